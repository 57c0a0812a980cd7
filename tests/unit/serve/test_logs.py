"""JSON log lines carry the request id; unsafe client ids are replaced."""

from __future__ import annotations

import json
import logging

from tuneforge.serve.logs import JsonFormatter, request_id_from, request_id_var


def test_logs_json_line_has_request_id_and_fields() -> None:
    record = logging.LogRecord("tuneforge.serve", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"event": "request", "texts": 3, "characters": 120}
    token = request_id_var.set("req-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "req-1"
    assert (line["level"], line["texts"], line["characters"]) == ("info", 3, 120)


def test_logs_alert_json_message_is_merged_not_nested() -> None:
    message = json.dumps({"event": "alert", "metric": "class_psi"})
    record = logging.LogRecord(
        "tuneforge.alerts", logging.WARNING, __file__, 1, message, None, None
    )
    line = json.loads(JsonFormatter().format(record))
    assert (line["event"], line["metric"]) == ("alert", "class_psi")
    assert "message" not in line


def test_logs_request_id_echoed_only_when_safe() -> None:
    assert request_id_from("abc-123") == "abc-123"
    generated = request_id_from('evil"\n{"level":"error"}')
    assert len(generated) == 32 and generated.isalnum()
    assert request_id_from(None) != request_id_from(None)
