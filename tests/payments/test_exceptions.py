"""WeChat's error codes become typed exceptions that say whether a retry is safe (§6)."""
from __future__ import annotations

import json

import pytest

from payments import exceptions as ex


def _err(status, code, message="m"):
    return ex.error_from_response(status, json.dumps({"code": code, "message": message}).encode(), "RID")


@pytest.mark.parametrize("status,code,cls", [
    (500, "SYSTEM_ERROR", ex.ServerError), (500, "SYSTEMERROR", ex.ServerError),
    (500, "BANK_ERROR", ex.ServerError), (500, "BANKERROR", ex.ServerError),
    (502, "", ex.ServerError),
    (429, "FREQUENCY_LIMITED", ex.RateLimited), (403, "RULE_LIMIT", ex.RateLimited),
    (403, "RULELIMIT", ex.RateLimited),
    (400, "PARAM_ERROR", ex.RequestRejected), (400, "INVALID_REQUEST", ex.RequestRejected),
    (401, "SIGN_ERROR", ex.SignError), (400, "APPID_MCHID_NOT_MATCH", ex.RequestRejected),
    (400, "MCH_NOT_EXISTS", ex.RequestRejected), (403, "NO_AUTH", ex.RequestRejected),
    (403, "NOAUTH", ex.RequestRejected), (500, "OPENID_MISMATCH", ex.RequestRejected),
    (500, "INVALID_TRANSACTIONID", ex.RequestRejected),
    (403, "OUT_TRADE_NO_USED", ex.OutTradeNoUsed), (400, "ORDER_CLOSED", ex.OrderClosed),
    (400, "ORDERPAID", ex.OrderPaid), (403, "NOT_ENOUGH", ex.NotEnough), (403, "NOTENOUGH", ex.NotEnough),
    (404, "ORDER_NOT_EXIST", ex.NotFound), (404, "ORDERNOTEXIST", ex.NotFound),
    (404, "RESOURCE_NOT_EXISTS", ex.NotFound), (403, "USER_ACCOUNT_ABNORMAL", ex.UserAccountAbnormal),
    (400, "NO_STATEMENT_EXIST", ex.BillNotAvailable),
])
def test_codes_in_both_spellings_map_to_their_class(status, code, cls):
    error = _err(status, code)
    assert type(error) is cls
    assert (error.code, error.status, error.request_id) == (code, status, "RID")


def test_only_system_and_bank_errors_and_5xx_are_retried_with_the_same_parameters():
    assert _err(500, "SYSTEM_ERROR").retry_same_params
    assert _err(503, "").retry_same_params
    for code in ("PARAM_ERROR", "OUT_TRADE_NO_USED", "ORDER_CLOSED", "NOT_ENOUGH", "ORDER_NOT_EXIST"):
        assert not _err(400, code).retry_same_params
    assert _err(429, "FREQUENCY_LIMITED").back_off and not _err(429, "FREQUENCY_LIMITED").retry_same_params


def test_server_errors_and_timeouts_leave_the_outcome_unknown():
    assert isinstance(_err(500, "SYSTEM_ERROR"), ex.OutcomeUnknown)
    assert issubclass(ex.WeChatPayTimeout, ex.OutcomeUnknown)
    assert issubclass(ex.UntrustedResponse, ex.OutcomeUnknown)
    assert not isinstance(_err(403, "OUT_TRADE_NO_USED"), ex.OutcomeUnknown)


def test_verification_errors_are_distinct_types():
    for cls in (ex.InvalidSignature, ex.StaleTimestamp, ex.UnknownSerial, ex.MissingHeaders):
        assert issubclass(cls, ex.VerificationError)
    assert issubclass(ex.MissingHeaders, ex.InvalidSignature)
    assert not issubclass(ex.DecryptError, ex.VerificationError)


def test_unparseable_error_bodies_still_give_a_typed_error():
    error = ex.error_from_response(502, b"<html>bad gateway</html>")
    assert isinstance(error, ex.ServerError) and error.code == ""
    assert "HTTP 502" in str(error)
