"""``citystream apikey``: a new API key and the keys-file entry that admits it.

The key goes to stderr, once, for the client; the entry, which holds only its SHA-256,
goes to stdout, so ``citystream apikey ... >> api_keys.toml`` never writes the key to the
file CITYSTREAM_API_KEYS_FILE names (deploy/api_keys.example.toml).
"""

from __future__ import annotations

import argparse
import sys

from streams.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", required=True, help="the key's id (audit rows and logs name it)")
    parser.add_argument(
        "--scope",
        action="append",
        required=True,
        help="open311:write, open311:read, board:read, desk:<department>, verify:<supervisor>"
        " (repeat for several)",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    del settings
    from streams.api.keys import KeyRing, hash_key, new_key

    key = new_key()
    entry = f'[[keys]]\nid = "{args.id}"\nsha256 = "{hash_key(key)}"\n'
    entry += "scopes = [" + ", ".join(f'"{s}"' for s in args.scope) + "]\n"
    KeyRing.from_text(entry)  # refuse to print an entry the api would refuse
    print(
        f"key for {args.id} (give it to the client; it is stored nowhere): {key}", file=sys.stderr
    )
    print(entry, end="")
    return 0
