"""The CLI of the plain package (no server extra): the client commands work and import
nothing of the extra; the commands that run or manage the service say which extra to
install, in one line, and exit 1."""

from __future__ import annotations

import json

from pulse_ray.cli.server_extra import INSTALL, missing_extra
from tests.fresh_python import run_python, server_only_modules

SERVER_COMMANDS = [["serve"], ["keys", "create", "--name", "me"], ["keys", "--help"],
                   ["db", "upgrade"], ["secrets", "rotate-key"], ["datasources", "list"],
                   ["demo", "transactions"]]


def test_client_commands_run_without_the_server_extra_and_import_none_of_it() -> None:
    server_only = server_only_modules()
    result = run_python("""
        import json, sys
        from typer.testing import CliRunner
        import pulse_ray.cli.service
        from pulse_ray.cli import app
        from tests.unit.fake_pulse import PAYLOADS as P, FakeApi, page, run_detail

        api = FakeApi()
        for route, answer in {
            "GET /v1/auth/whoami": P["whoami"], "POST /v1/snapshot/tx": P["snapshot"],
            "GET /v1/snapshots": page(P["snapshot"]), "GET /v1/models": page(P["model"]),
            "GET /v1/models/fraud-detector/versions": P["versions"],
            "POST /v1/train/fraud-detector": P["run"],
            "GET /v1/train/run_1": run_detail("succeeded", 3, version="1.0.0-abc"),
            "POST /v1/infer/fraud-detector": P["inference"], "GET /v1/lineage/inf_1": P["lineage"],
            "GET /v1/webhooks": page(P["webhook"]), "GET /v1/products/prod_123": P["product"],
            "POST /v1/infer": P["session_inference"],
        }.items():
            api.on(route, answer)
        pulse_ray.cli.service.client = api.client
        commands = [["--help"], ["auth", "whoami"], ["snapshot", "tx"], ["snapshots", "list"],
                    ["models", "list"], ["models", "versions", "fraud-detector"],
                    ["train", "fraud-detector", "--snapshot", "snap_1"],
                    ["runs", "show", "run_1"],
                    ["infer", "fraud-detector", '{"transaction_amount": 1.0}'],
                    ["lineage", "inf_1"], ["webhooks", "list"], ["products", "get", "prod_123"],
                    ["session", '{"session_id": "sess_abc123"}']]
        codes = {" ".join(c): CliRunner().invoke(app, c).exit_code for c in commands}
        print(json.dumps({"codes": codes,
                          "imported": sorted({m.partition(".")[0] for m in sys.modules})}))
    """, hide=server_only)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert {command: code for command, code in seen["codes"].items() if code} == {}
    assert "pulse_ray" in seen["imported"] and not set(seen["imported"]) & server_only
    # Where the extra is installed, the CLI and its listing import none of it either.
    listed = run_python("""
        import json, sys
        from typer.testing import CliRunner
        from pulse_ray.cli import app

        assert CliRunner().invoke(app, ["--help"]).exit_code == 0
        print(json.dumps(sorted({m.partition(".")[0] for m in sys.modules})))
    """)
    assert listed.returncode == 0, listed.stderr
    assert not set(json.loads(listed.stdout)) & server_only


def test_server_commands_without_the_extra_name_it_in_one_line() -> None:
    result = run_python(f"""
        import json
        from typer.testing import CliRunner
        from pulse_ray.cli import app

        runs = [CliRunner().invoke(app, args) for args in {SERVER_COMMANDS!r}]
        print(json.dumps([[run.exit_code, run.stdout, run.stderr] for run in runs]))
        print(json.dumps(CliRunner().invoke(app, ["--help"]).stdout))
    """, hide=server_only_modules())
    assert result.returncode == 0, result.stderr
    runs, listing = (json.loads(line) for line in result.stdout.splitlines())
    for args, (code, stdout, stderr) in zip(SERVER_COMMANDS, runs, strict=True):
        (line,) = stderr.splitlines()
        assert code == 1 and stdout == "", args
        assert line.startswith(f"`pulse {args[0]}` needs the server extra (no module ")
        assert line.endswith(f"): {INSTALL}") and INSTALL == "pip install 'pulse-ray[server]'"
    # Listed all the same, in a panel that says what they need.
    assert "(server extra)" in listing
    assert all(f" {args[0]} " in listing for args in SERVER_COMMANDS)


def test_only_a_missing_package_of_a_server_command_is_the_extra() -> None:
    ray = ModuleNotFoundError("No module named 'ray'", name="ray")
    assert missing_extra("serve", ray) is not None
    assert missing_extra("infer", ray) is None  # a client command: a bug, shown as one
    own = ModuleNotFoundError("No module named 'pulse_ray.gone'", name="pulse_ray.gone")
    assert missing_extra("serve", own) is None
