# Developer entry points; the logic lives in scripts/ so CI (.ci/run) runs the same thing.
CITYSTREAM := .venv/bin/citystream

.PHONY: bootstrap up down status test demo bench lint

bootstrap:
	bash scripts/bootstrap.sh

up: bootstrap
	$(CITYSTREAM) up

down:
	@if [ -x $(CITYSTREAM) ]; then $(CITYSTREAM) down; else echo "no .venv: nothing runs"; fi

status:
	$(CITYSTREAM) status

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

test:
	bash scripts/test.sh

demo: up
	$(CITYSTREAM) demo

# benchmarks are skipped by the default pytest options; the end-to-end load benchmark
# needs the services, hence `up`
bench: up
	.venv/bin/pytest -o addopts="-ra --strict-markers" --benchmark-only bench
