"""`hub serve` and `hub token`."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from hub.auth import ROLES, SECRET_FILE, issue_token, resolve_secret
from hub.core.errors import HubError, sentence
from hub.logs import configure as configure_logging
from hub.settings import Settings, default_data_dir


def _settings(args: argparse.Namespace) -> Settings:
    """The settings from the environment and `args`; HubError naming each setting out of bounds (as
    `HUB_<NAME>`, which its `hub serve` option mirrors) and why: `hub` says a sentence, not a traceback."""
    token_only = ("cmd", "educator_id", "role", "ttl", "room")
    given = {k: v for k, v in vars(args).items() if v is not None and k not in token_only}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise HubError(settings_problem(exc)) from None


def settings_problem(exc: ValidationError) -> str:
    """What is wrong with the settings, as a sentence: each field as `HUB_<NAME>` and why."""
    problems = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        where = f"HUB_{field.upper()}: " if field else ""
        given = f" (given {error['input']!r})" if field and not isinstance(error.get("input"), dict) else ""
        problems.append(f"{where}{sentence(error['msg'])}{given}")
    return "bad settings: " + "; ".join(problems)


def hub_command(executable: str | None = None, cwd: Path | None = None, on_path: str | None = None) -> str:
    """How to run the `hub` command from here: `hub` when that is the one on PATH, else the script
    beside this Python (`.venv/bin/hub` relative to the current directory when it is below it), else
    `PYTHON -m hub.cli`. The arguments default to sys.executable, the working directory and PATH."""
    python = Path(executable or sys.executable)
    script = python.parent / "hub"
    if not script.exists():
        return f"{python} -m hub.cli"
    found = on_path if on_path is not None else shutil.which("hub")
    if found and Path(found).absolute() == script.absolute():
        return "hub"
    here = (cwd or Path.cwd()).absolute()
    try:
        return str(script.absolute().relative_to(here))
    except ValueError:
        return str(script)


def token_hint(command: str, data_dir: Path, *, secret_set: bool, default: Path | None = None) -> str:
    """The `hub token` command line `hub serve` prints for a hub on `data_dir`: with `--data-dir DIR`
    when that is not the default data dir (`default`, else default_data_dir()) and the secret comes
    from the data dir (no HUB_SECRET), since a token signed with another data dir's secret is refused."""
    hint = f"{command} token EDUCATOR_ID"
    if secret_set:
        return hint
    if Path(data_dir).expanduser().absolute() != Path(default or default_data_dir()).expanduser().absolute():
        hint += f" --data-dir {shlex.quote(str(data_dir))}"
    return hint


def main(argv: list[str] | None = None) -> int:
    """The `hub` command: `serve` (runs until stopped) or `token` (prints a token on stdout). `argv`
    defaults to sys.argv[1:]. Returns the exit status: 0, or 2 with a sentence on stderr for a
    HubError (no secret, a refused host, a port in use, ...); argparse exits 2 on bad arguments."""
    parser = argparse.ArgumentParser(prog="hub", description="Actor-model notification hub")
    sub = parser.add_subparsers(dest="cmd", required=True)

    serve = sub.add_parser("serve", help="start the hub (a local Ray unless --address is given)")
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--address", help="Ray address to join, e.g. auto (default: start a local Ray)")
    serve.add_argument(
        "--shards", type=int, help="registry shards (default: one per 4 CPUs; a running hub's count when joining)"
    )
    serve.add_argument("--data-dir", type=Path, help="where the hub keeps its files")
    serve.add_argument("--db", type=Path, help="the job store's SQLite file (default DATA_DIR/jobs.db)")
    serve.add_argument("--num-cpus", type=int, help="CPUs for a local Ray (default: all)")
    serve.add_argument("--ssl-certfile", type=Path, help="serve https/wss with this certificate (PEM)")
    serve.add_argument("--ssl-keyfile", type=Path, help="the certificate's private key (PEM)")
    serve.add_argument("--log-level", help="debug, info, warning")
    serve.add_argument("--log-format", choices=["text", "json"], help="text (default) or one JSON object per line")

    token = sub.add_parser("token", help="print a token signed with the hub's secret")
    token.add_argument("educator_id")
    token.add_argument("--role", choices=ROLES, default="educator")
    token.add_argument("--ttl", type=float, default=86400.0, help="seconds the token is valid")
    token.add_argument(
        "--room",
        action="append",
        metavar="PATTERN",
        help="a room the token may join: an id, or a prefix ending in '*' (repeat for more; PROTOCOL.md section 7)",
    )
    token.add_argument("--data-dir", type=Path, help="the data dir of the hub the token is for")

    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
        if args.cmd == "token":
            secret = resolve_secret(settings.secret, settings.data_dir, "127.0.0.1", create=False)
            # Which secret signed it, on stderr (stdout stays the bare token, for $(hub token ...)): a hub
            # started with another data dir or another HUB_SECRET refuses the token.
            if settings.secret:
                where = "HUB_SECRET: it works with a hub started with the same HUB_SECRET"
            else:
                where = f"the secret in {settings.data_dir / SECRET_FILE}: it works with the hub whose data dir that is"
            token = issue_token(
                secret, args.educator_id, role=args.role, ttl=args.ttl, now=time.time(), rooms=args.room
            )
            print(f"hub: {args.role} token for {args.educator_id!r}, signed with {where}", file=sys.stderr)
            print(token)
            return 0
        configure_logging(settings.log_level, settings.log_format)
        from hub.server import serve as run

        run(settings)
        return 0
    except HubError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
