# Developer entry points; the logic lives in scripts/ so CI (.ci/run) runs the same thing.
# state in the checkout (var/, .cache/), not the user folders: see scripts/project-env.sh
CITYSTREAM := scripts/project-env.sh .venv/bin/citystream

.PHONY: bootstrap up down status test demo bench bench-scale lint

bootstrap:
	bash scripts/bootstrap.sh

up: bootstrap
	$(CITYSTREAM) up

down:
	@if [ -x .venv/bin/citystream ]; then $(CITYSTREAM) down; else echo "no .venv: nothing runs"; fi

status:
	$(CITYSTREAM) status

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

test:
	bash scripts/test.sh

demo: up
	$(CITYSTREAM) demo

# benchmarks are skipped by the default pytest options; the sink and end-to-end benchmarks
# need the services, hence `up`. Writes var/bench/results.{json,md}, fails on a regression
# against bench/baseline.json. `make bench BENCH_ARGS=--smoke` for the quick check.
bench: up
	$(CITYSTREAM) bench $(BENCH_ARGS)

# the scale curve (docs/benchmarks.md): e2e-dedup and e2e-ingest at 1, 2, 3 workers x 1, 6,
# 12 partitions; writes var/bench/scale/scale.{md,svg,json}. SCALE_ARGS=--smoke: tiny sizes.
bench-scale: up
	scripts/project-env.sh .venv/bin/python -m bench.e2e.scale $(SCALE_ARGS)
