"""`pip install pulse-ray` brings the SDK without the server extra: with every module
of that extra missing, the SDK still imports and calls the API, and it imports none of
them even where they are installed."""

from __future__ import annotations

import json

from tests.fresh_python import run_python, server_only_modules


def test_the_sdk_works_without_the_server_extra_and_imports_none_of_it() -> None:
    server_only = server_only_modules()
    assert {"ray", "torch", "sqlmodel", "sqlalchemy", "pyarrow", "fastapi"} <= server_only
    result = run_python("""
        import json, sys
        from tests.unit.fake_pulse import PAYLOADS, FakeApi, page
        from pulse_ray.sdk import Pulse

        api = FakeApi()
        api.on("GET /v1/auth/whoami", PAYLOADS["whoami"])
        api.on("POST /v1/infer/fraud-detector", PAYLOADS["inference"])
        api.on("GET /v1/models", page(PAYLOADS["model"]))
        api.on("POST /v1/infer", PAYLOADS["session_inference"])
        with api.client() as pulse:
            answers = [pulse.whoami().id,
                       pulse.infer("fraud-detector", {"transaction_amount": 1.0}).id,
                       pulse.list_models().data[0].name,
                       pulse.infer_session({"session_id": "sess_abc123"}).persona.primary]
        print(json.dumps({"answers": answers,
                          "imported": sorted({m.partition(".")[0] for m in sys.modules})}))
    """, hide=server_only)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["answers"] == ["key_1", "inf_1", "fraud-detector", "value_conscious_runner"]
    assert "pulse_ray" in seen["imported"] and not set(seen["imported"]) & server_only

    # Installed or not, they are not imported (a try/except around an import would
    # pass the check above and still load them where they exist).
    everything = run_python("""
        import json, sys
        import pulse_ray.sdk
        print(json.dumps(sorted({m.partition(".")[0] for m in sys.modules})))
    """)
    assert everything.returncode == 0, everything.stderr
    assert not set(json.loads(everything.stdout)) & server_only
