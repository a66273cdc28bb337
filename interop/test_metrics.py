"""`/metrics` of a running server: every family it exposes is documented in
docs/monitoring.md and every documented family is exposed (the replica network's are checked
in test_cluster_commands.py), with values that follow what happened: the root unsealed, the
requests made (a failed one among them), a long-lived token's expiry until it is revoked,
the served certificate's expiry, the audit appends, and the checkpoint age, which grows and
starts again after `custos audit checkpoint`."""
from __future__ import annotations

import base64
import datetime
import json
import time

import pytest
import requests
from cryptography import x509

import metrics_doc
from server import Server
from test_tls_reload import Identity

T = "acme"
STORE_SAMPLE_SECONDS = 5  # ServerMetrics re-reads the store at most this often


def test_alert_rule_metrics_are_documented():
    """Every metric an alert rule names is a documented family (or a histogram's series)."""
    import re
    from pathlib import Path

    import yaml

    rules = yaml.safe_load((Path(metrics_doc.DOC).parent.parent / "packaging/prometheus/custos-alerts.yml").read_text())
    documented = set(metrics_doc.documented_types())
    named = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            # Label matchers ({…}) and grouping clauses (by, without, on, ignoring) name labels, not metrics.
            expr = re.sub(r"\{[^}]*\}", "", rule["expr"])
            expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
            named |= set(re.findall(r"\b((?:custos|hb|http|process)_[a-z_]+)\b", expr))
    assert named, "no metric named by the rules"
    for name in named:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in documented or (base in documented and metrics_doc.documented_types()[base] == "histogram"), name


def test_every_exposed_family_is_documented_and_the_values_follow_the_server(custos, tmp_path):
    custos.run("tls", "ca", "create", "--tenant", T, "--alias", "ca", "--subject", "CN=Acme TLS CA")
    custos.run("tls", "issue", "--tenant", T, "--alias", "web", "--issuer", "ca", "--subject", "CN=custos", "--ip", "127.0.0.1",
               "--usage", "server")
    ca = tmp_path / "ca.pem"
    ca.write_text(custos.run("tls", "export", "--tenant", T, "--alias", "ca").out)
    client, stranger = Identity(tmp_path, "monitoring"), Identity(tmp_path, "stranger")
    custos.run("tls", "trust", "add-pin", client.spki_pin)
    admin = custos.run("token", "create", "--role", "admin", "--ttl", "1h", "--json").json()
    service = custos.run("token", "create", "--role", "signer", "--tenant", T, "--ttl", "90d", "--json").json()
    sink = tmp_path / "offnode" / "head.json"
    sink.parent.mkdir()
    server = Server(custos, config={"tls": {"key": f"{T}/web", "reload_interval_ms": 3_600_000},
                                    "audit": {"sink": str(sink), "checkpoint_interval_seconds": 3600}}).start()
    try:
        def call(method, path, body=None, identity=client, token=admin["bearer"]):
            return requests.request(method, server.url + path, json=body, cert=identity.pair, verify=str(ca), timeout=30,
                                    headers={"Authorization": f"Bearer {token}"} if token else {})

        def scrape() -> str:
            response = call("GET", "/metrics", token=None)
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain"), response.text[:300]
            return response.text

        assert call("POST", f"/v1/tenants/{T}/keys", {"alias": "k", "scheme": "ed25519"}).status_code == 201
        for message in (b"one", b"two"):
            assert call("POST", f"/v1/tenants/{T}/keys/k/sign", {"message": base64.b64encode(message).decode()}).status_code == 200
        assert call("POST", f"/v1/tenants/{T}/keys/missing/sign", {"message": "AA=="}).status_code == 404
        assert call("GET", "/v1/no/such/route").status_code == 404
        assert call("GET", f"/v1/tenants/{T}/keys", token="cst_0000000000000000_nope").status_code == 401
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            call("GET", "/v1/health/live", identity=stranger)

        text = scrape()
        exposed = metrics_doc.families(text)
        sections = metrics_doc.documented()
        standalone = sections["Every server"] | sections["With TLS (`tls.*`)"]
        assert set(exposed) - standalone == set(), f"exposed but not in docs/monitoring.md: {sorted(set(exposed) - standalone)}"
        assert standalone - set(exposed) == set(), f"documented but never exposed: {sorted(standalone - set(exposed))}"
        types = metrics_doc.documented_types()
        assert {name: kind for name, kind in exposed.items()} == {name: types[name] for name in exposed}, "documented types differ"

        values = metrics_doc.samples(text)
        assert values['custos_root_unsealed{provider="passphrase"}'] == 1
        assert values['custos_root_state{state="unsealed",provider="passphrase"}'] == 1
        assert values['custos_root_state{state="refused",provider="passphrase"}'] == 0
        assert values['custos_signatures_total{scheme="ed25519"}'] == 2
        sign_route = 'http_route="/v1/tenants/{tenant}/keys/{alias}/sign",http_request_method="POST"'
        assert values[f'hb_requests{{{sign_route},http_response_status_code="200"}}'] == 2
        assert values[f'hb_requests{{{sign_route},http_response_status_code="404"}}'] == 1
        errors = {k: v for k, v in values.items() if k.startswith("hb_request_errors")}
        # Hummingbird registers a series per route, method and status it answered, the unmatched
        # path included, but with this registry they stay 0 (docs/monitoring.md): errors are
        # counted in hb_requests by status, which the alert rules use.
        assert 'hb_request_errors{http_route="NotFound",http_request_method="GET",error_type="404"}' in errors, errors
        assert all(v == 0 for v in errors.values()), errors
        assert values['custos_tls_client_refusals_total{reason="unknown"}'] >= 1
        served = x509.load_pem_x509_certificate(custos.run("tls", "export", "--tenant", T, "--alias", "web").out.encode())
        assert values['custos_tls_certificate_expiry_timestamp_seconds{certificate="server"}'] == served.not_valid_after_utc.timestamp()
        assert values['custos_tls_certificate_days_left{certificate="server"}'] >= 0
        # The long-lived token (90 days) has its expiry; the 1-hour admin token only counts.
        expiry = datetime.datetime.fromisoformat(service["expires_at"].replace("Z", "+00:00")).timestamp()
        token_series = f'custos_token_expiry_timestamp_seconds{{token_id="{service["id"]}",role="signer",tenant="{T}"}}'
        assert values[token_series] == pytest.approx(expiry, abs=1), (values.get(token_series), expiry)
        assert [k for k in values if k.startswith("custos_token_expiry_timestamp_seconds")] == [token_series]
        assert values["custos_tokens_active"] == 2
        assert service["bearer"] not in text and admin["bearer"] not in text
        # Audit appends: the operations above were written and timed.
        assert values["custos_audit_records_total"] >= 4
        assert 1 <= values["custos_audit_write_seconds_count"] <= values["custos_audit_records_total"]
        assert values["custos_audit_write_failures_total"] == 0
        assert values["custos_audit_sink_failures_total"] == 0
        head = values["custos_audit_head_sequence"]
        assert head >= values["custos_audit_records_total"]
        assert values["custos_audit_last_checkpoint_sequence"] < head
        assert values["custos_audit_checkpoint_interval_seconds"] == 3600

        # The age grows between scrapes; `custos audit checkpoint` (another process) resets it.
        time.sleep(1.5)
        older = metrics_doc.samples(scrape())
        assert older["custos_audit_last_checkpoint_age_seconds"] >= values["custos_audit_last_checkpoint_age_seconds"] + 1
        checkpointed = time.time()
        custos.run("audit", "checkpoint", env=dict(custos.env, CUSTOS_AUDIT_SINK=str(sink)))
        # The revoke signs a checkpoint of its own at the end (every local command does): with the sink too.
        custos.run("token", "revoke", service["id"], env=dict(custos.env, CUSTOS_AUDIT_SINK=str(sink)))
        time.sleep(STORE_SAMPLE_SECONDS + 0.5)
        after = metrics_doc.samples(scrape())
        assert after["custos_audit_last_checkpoint_sequence"] >= head
        # Reset: no older than the checkpoint command (the revoke and the sampling wait came after).
        assert after["custos_audit_last_checkpoint_age_seconds"] <= time.time() - checkpointed + 0.5
        assert abs(after["custos_audit_last_checkpoint_timestamp_seconds"] - time.time()) < 10
        assert token_series not in after, "a revoked token's series disappears"
        assert after["custos_tokens_active"] == 1
        assert json.loads(sink.read_text())["sequence"] == after["custos_audit_last_checkpoint_sequence"]
    finally:
        assert server.stop() == 0
