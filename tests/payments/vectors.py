"""Published known-answer vectors (wechat-pay-v3.md §11), copied from the cited public tests.

These keys are public test keys from the SDKs' repositories and documentation, not secrets.
"""
# 1. wechatpay-go utils/sign_test.go (TESTING KEY -> PRIVATE KEY).
GO_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDZUJN33V+dSfvd
fL0Mu+39XrZNXFFMQSy1V15FpncHeV47SmV0TzTqZc7hHB0ddqAdDi8Z5k3TKqb7
6sOwYr5TcAfuR6PIPaleyE0/0KrljBum2Isa2Nyq7Dgc3ElBQ6YN4l/a+DpvKaz1
FSKmKrhLNskqokWVSlu4g8OlKlbPXQ9ibII14MZRQrrkTmHYHzfi7GXXM0thAKuR
0HNvyhTHBh4/lrYM3GaMvmWwkwvsMavnOex6+eioZHBOb1/EIZ/LzC6zuHArPpyW
3daGaZ1rtQB1vVzTyERAVVFsXXgBHvfFud3w3ShsJYk8JvMwK2RpJ5/gV0QSARcm
LDRUAlPzAgMBAAECggEBAMc7rDeUaXiWv6bMGbZ3BTXpg1FhdddnWUnYE8HfX/km
OFI7XtBHXcgYFpcjYz4D5787pcsk7ezPidAj58zqenuclmjKnUmT3pfbI5eCA2v4
C9HnbYDrmUPK1ZcADtka4D6ScDccpNYNa1g2TFHzkIrEa6H+q7S3O2fqxY/DRVtN
0JIXalBb8daaqL5QVzSmM2BMVnHy+YITJWIkP2a3pKs9C0W65JGDsnG0wVrHinHF
+cnhFZIbaPEI//DAFMc9NkrWOKVRTEgcCUxCFaHOZVNxDWZD7A2ZfJB2rK6eg//y
gEiFDR2h6mTaDowMB4YF2n2dsIO4/dCG8vPHI20jn4ECgYEA/ZGu6lEMlO0XZnam
AZGtiNgLcCfM/C2ZERZE7QTRPZH1WdK92Al9ndldsswFw4baJrJLCmghjF/iG4zi
hhBvLnOLksnZUfjdumxoHDWXo2QBWbI5QsWIE7AuTiWgWj1I7X4fCXSQf6i+M/y2
6TogQ7d0ANpZFyOkTNMn/tiJvLECgYEA22XqlamG/yfAGWery5KNH2DGlTIyd6xJ
WtJ9j3jU99lZ0bCQ5xhiBbU9ImxCi3zgTsoqLWgA/p00HhNFNoUcTl9ofc0G3zwT
D1y0ZzcnVKxGJdZ6ohW52V0hJStAigtjYAsUgjm7//FH7PiQDBDP1Wa6xSRkDQU/
aSbQxvEE8+MCgYEA3bb8krW7opyM0XL9RHH0oqsFlVO30Oit5lrqebS0oHl3Zsr2
ZGgoBlWBsEzk3UqUhTFwm/DhJLTSJ/TQPRkxnhQ5/mewNhS9C7yua7wQkzVmWN+V
YeUGTvDGDF6qDz12/vJAgSwDDRym8x4NcXD5tTw7mmNRcwIfL22SkysThIECgYAV
BgccoEoXWS/HP2/u6fQr9ZIR6eV8Ij5FPbZacTG3LlS1Cz5XZra95UgebFFUHHtC
EY1JHJY7z8SWvTH8r3Su7eWNaIAoFBGffzqqSVazfm6aYZsOvRY6BfqPHT3p/H1h
Tq6AbBffxrcltgvXnCTORjHPglU0CjSxVs7awW3AEQKBgB5WtaC8VLROM7rkfVIq
+RXqE5vtJfa3e3N7W3RqxKp4zHFAPfr82FK5CX2bppEaxY7SEZVvVInKDc5gKdG/
jWNRBmvvftZhY59PILHO2X5vO4FXh7suEjy6VIh0gsnK36mmRboYIBGsNuDHjXLe
BDa+8mDLkWu5nHEhOxy2JJZl
-----END PRIVATE KEY-----"""
GO_SIGN_MESSAGE = "source"
GO_SIGNATURE = (
    "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld81"
    "5U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29"
    "QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7"
    "Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="
)

# 2. wechatpay-go core/notify/notify_test.go TestHandler_ParseNotifyRequest.
GO_CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIDVzCCAj+gAwIBAgIJANfOWdH1ItcBMA0GCSqGSIb3DQEBCwUAMEIxCzAJBgNV
BAYTAlhYMRUwEwYDVQQHDAxEZWZhdWx0IENpdHkxHDAaBgNVBAoME0RlZmF1bHQg
Q29tcGFueSBMdGQwHhcNMjEwNDI3MDg1NTIzWhcNMzEwNDI1MDg1NTIzWjBCMQsw
CQYDVQQGEwJYWDEVMBMGA1UEBwwMRGVmYXVsdCBDaXR5MRwwGgYDVQQKDBNEZWZh
dWx0IENvbXBhbnkgTHRkMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA
2VCTd91fnUn73Xy9DLvt/V62TVxRTEEstVdeRaZ3B3leO0pldE806mXO4RwdHXag
HQ4vGeZN0yqm++rDsGK+U3AH7kejyD2pXshNP9Cq5YwbptiLGtjcquw4HNxJQUOm
DeJf2vg6byms9RUipiq4SzbJKqJFlUpbuIPDpSpWz10PYmyCNeDGUUK65E5h2B83
4uxl1zNLYQCrkdBzb8oUxwYeP5a2DNxmjL5lsJML7DGr5znsevnoqGRwTm9fxCGf
y8wus7hwKz6clt3Whmmda7UAdb1c08hEQFVRbF14AR73xbnd8N0obCWJPCbzMCtk
aSef4FdEEgEXJiw0VAJT8wIDAQABo1AwTjAdBgNVHQ4EFgQUT1c7nd/SUO76HSoZ
umNUJv1R5PwwHwYDVR0jBBgwFoAUT1c7nd/SUO76HSoZumNUJv1R5PwwDAYDVR0T
BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAfTjxKRQMzNB/U6ZoCUS+BSNfa2Oh
0plMN6ZuzwiVVZwg1jywvv5yv04koS7Pd4i9E4gt9ZBUQXlpq+A3oOCEEHNRR6b2
kyazGRM7s0OP5X21WrbpSmKmU6K7hkfx30yYs08LVs/Q8DIhvaj1FCFeJzUCzYn/
fHMq4tsbKO0dKAeydPM/nrUZBmaYQVKMVOORGLFjFKVO7JV6Kq/R86ouhjEPgJOe
2xulNBUcjicqtZlBdEh/PWCYP2SpGVDclKm8jeo175T3EVAkdKzzmfpxtMmnMlmq
cTJOU9TxuGvNASMtjj7pYIerTx+xgZDXEVBWFW9PjJ0TV06tCRsgSHItgg==
-----END CERTIFICATE-----"""
GO_CERT_SERIAL = "D7CE59D1F522D701"
GO_NOTIFY_TIME = 1624523846
GO_APIV3_KEY = "testMchAPIv3Key0"
GO_NOTIFY_HEADERS = {
    "Content-Type": "application/json",
    "Wechatpay-Nonce": "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz",
    "Wechatpay-Timestamp": "1624523846",
    "Wechatpay-Serial": "D7CE59D1F522D701",
    "Wechatpay-Signature": (
        "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXFlbY"
        "ZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rx"
        "ELLwXvV1VEA1IBLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2"
        "laKKgYUmfdEdkNO6B2Cke5e8VTxY406ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q=="
    ),
}
GO_NOTIFY_BODY = (
    '{"id":"3119dfba-e649-5eec-ab1e-3412bc4d2e17","create_time":"2021-06-24T16:37:26+08:00","re'
    'source_type":"encrypt-resource","event_type":"PAYSCORE.USER_OPEN_SERVICE","summary":"签约成功"'
    ',"resource":{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM","ciphertext":"YDS3l'
    "KPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZttevRM"
    "OoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOc"
    'gSLgh21YJXYR7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==","associated_data":"payscore","non'
    'ce":"Kj7QIyUiYx1q"}}'
)
GO_NOTIFY_PLAINTEXT = (
    '{"mchid":"1234567890","appid":"054aa7d7a2a54ab5898df65bd96f001c","create_time":"2020-06-30'
    'T12:12:00+08:00","out_contract_code":"21640bdbd08e473e828f3206a2741c6e"}'
)

# 3. wechatpay-go utils/aes_test.go (16-byte key -> AES-128-GCM).
GO_AES = dict(key="testAPIv3Key0000", nonce="wCq51qZv4Yfg", aad="Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
              ciphertext="FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC", plaintext=b"Hello World")

# 4. wechatpay-java AeadAesCipherTest + TestConfig.
JAVA_APIV3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
JAVA_AES = dict(key=JAVA_APIV3_KEY, nonce="uluk4a9R25RW", aad="associatedData",
                ciphertext="ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=", plaintext=b"message")

# 5. wechatpay-java TestConfig.DOWNLOAD_CERTIFICATE_RESPONSE (the "data" list, reformatted).
JAVA_CERT_SERIAL = "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC"
JAVA_CERTIFICATES_RESPONSE = {"data": [{
    "effective_time": "2023-09-19T23:15:58+08:00",
    "expire_time": "2028-09-17T23:15:58+08:00",
    "serial_no": JAVA_CERT_SERIAL,
    "encrypt_certificate": {
        "algorithm": "AEAD_AES_256_GCM",
        "associated_data": "certificate",
        "nonce": "14b16c03dc1b",
        "ciphertext": (
            "Mr/AxbvY+WL9hKlD5nIa03LOMPpn5f+CWeNxE4ujl0f5gXZ9XLJ9CldkArCOTsbU62XgKnTc3YvRMZQ7wCmE2fzwmA"
            "enAySTYsPms72JhggPWfdqVxri9YD5wBYKn8Ck0Fc5JIiVw9WlN2oxHBz83mRVsjoTGC5+cX1CdYqKuZ8pkvi0aCJI"
            "q07ZC8MHoTowUz+4jYJy9XeKqip83Z7BmUYxsePpNM+HtihBqTJIUYXJfX7Col5X0ACsApRoU9l6swfW/kzvqNpDJa"
            "vhDBGasLrr5822+Fk5nVkcTi53f8Wbue7ODWjJxj1yhRYcxFCvXLtpYNB+Qa1aXtrBSdBdBI2p7o+6Imn+auHLBCzk"
            "rZqF/yd+d4vTn4tqHPLUj89XcHsMf96uBo3T/HQV8LEDeIO+6YvOK9FrIDYsvp+imN4n/mnF7eJKo9mpN/QqWJiawr"
            "FpAmMMxFKBjIdpgMnVUl3Z11RcWKyfOJ3kcmItTWcnZFNyDgR9cS0aU6QPlefa3uUW89uzBuHjcFdDl43yU3LE4qZn"
            "HLDcDgx4qt0OFCLiy51GXtEpyYs5k99YJBvKK+RyIs4Yc1/smBmClQUhxW+8bsPNOcXfDvH2yX4YzESoO4TV0RqiCg"
            "nsSd4zIFyJPiMKIGzVHiw6Kg0eGCmB4mGHEEZCQ0eN3SSPO0QVjjtBYfgXDZfVHSaAB8PjWBVNFimoViZZQrwT6Ygo"
            "0LU0Dd8+F5aHFYr4OPHPslr3hrgutEYXDTv1vTA6ABJGqknJ9Y2vtyWpy7aIwxc0kQq/1ezjs+RMVL/LRpGDnbx1/C"
            "GPDjZhYgZypKa55+PDhoaQxqkF3xCLz2DGoNHZYmFqxzAOsAK0vJZw4VcAk6ssbA6YIaMuiemEpxfLC9ZiXtRqsX9s"
            "+GWjjtA8JywOFMO+NKZm9BH/E5YNg2DDD3sHG9Mciwn7yJ6sdf8h2lAWlEExAOeiBNyshOHAQ0/S+x1ncWNiqY+Uh5"
            "n0rtonvePV2MsxVlEWR3AVHn1abcEWkzivd+G5kg7LYO0goqzGClcQfnFfZdO6KwcMXsBCnm9A1Bl4+k5LLokTIYH5"
            "/36SRIZ9j0CHGD77BQLE7x8AlNsoFS2m263tLLq78TFqvZUTIZIQcVIl+NInscS3xQbA38qqFqutCWIwoF1azuJ7wo"
            "iJyMvnS3xzIpNzP+rzJ8VDXxjLjpEUBOC9WDs74+QMtsAdmh6g0KDclHEk8WJ4P2bnso4z3VCGoDT5X/0bS1C+jMZM"
            "KaOCNB21FZ08qgUHmKeDeg8ylENu+mh2Y/AaEDSGkGBHIfFbhMYO3uRxhk9hldiHEnHgdkXiVAAUWk/IhtmGijibO/"
            "L76vB74Xpes973uK+2iFKgNBk8qTLLZZnuWbcMQuA6VsFULRb/C+q9B21YuAWPMzvgBwr4EX2m/OpF5w8Q0HL7v1H5"
            "H0mIGJbrjnklUPoBYrw30W3uk7yF0KE6sfMukafFx0S9rBOL0RykGDPwC0lHSNySkXDeM5XvDJ+dtHK+RDwhJR+azf"
            "rWAHGMtZcQ+YVamjWVmHxXM03j3GeCXgqae1upwHzkPL5OwojcQ5MQi3Kv/1xtwY0cRN/yeZTOsXfujtqhkJj/Vltb"
            "y4lnW4SCj4LjWQF19BY6zhzF4yybBA8bhhtoNP/zx8QkhHAkIROkK2ZVgfocCAPvfQ+vSrsIBO+L5cmg6mzFn4g84l"
            "sHscgXnszIlzUrzx/4Tam0uwuS9J1gddZ0I0QUt9SJzfsoBCTU0OgNMUtXKS5HvgXe7abexMtFH5eulOsAuFZkQ5LY"
            "Ja/m4yHFInXzL/t3hjdTi2NmxUufvYzwIyffRTu5vS9vjscARD9lUQDHFQ/xgWe1i8EkRlrSfjlXt00+4//h2bcJKy"
            "TBT3IXwvKNsuY29V9/vU3HkvWKZ99zpSlmcZRuBa1BHbyPEvc0NlqIIoKidxqUvOR64MzudHhAjgWFP+IXojfhS3Gj"
            "9OJhBL7s"
        ),
    },
}]}

# 6. wechatpy tests/test_pay_v3.py::test_calculate_signature (PKCS#1 key tests/certs/apiclient_key.pem).
WECHATPY_PRIVATE_KEY = """-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEA0JrdKSiYkbcwgkmDrk7huFLKo8it78xldAsbXDyfRaVTDwZ7
AEg8jZ8ng3zGMRc5nkjozkODfukTDAqty+rUV07877UkqEqeQ/DFg70SrrGokQ5P
sgVtPPs39vR2yh9wAgSySCtXlSx/9BfV5XIpUTQsGRMpC6wcRNqTUTAETp4Ocw3b
q8jX5svP7AxwCK8TLJ5FzhNObtfyxwJQ8SRwoEUbA0Sv+IpEm4+ZYKIrTOmkiQRD
gPSjGkuHj+lmo1tybX2EGU6fSDu5wvcQmw2xHM59PIxJam3dh/pcB+ZegIsy+HsI
jfa/wkkpp3q3+NLcKeVTBDLXwOOfbZLdsCHsUQIDAQABAoIBAQChmSZ0qPcwApp4
g5yX3pGraa+DG4Xq+wsozyXd2TSFDmJ+hEWq3UrTZxSEHpemFdjTzqVSjCiEmuff
bzJdgsgF7rGwvEHugQeDmDRaLpEXdZcg79Y7EUsjb3VWQOD5CUuKtLqrf6/0Zqmk
nQZdHYf2WRVEQ3yLh0PK7wwqW6kqgI2uSyruczhQWJYSpAaX/PVzHPS/S55yFMTC
0BK4y3qC+nFXdRCP3XDjYD3UfSpR0k9Nv4Vdit5q21+lNHJdVnK9r2BiRqbh7LUB
Mse9NctLiuQbPVsjnv8oAVdf9necB6TY5IiEmH7eAf69sfc/FppRTnINTZ8D5iUv
1VY3Nm1xAoGBAPis2RuqeM+535MYZqiHE94g0jvT81H7TPX5J3iIf1BGoC2wYQKj
hf9zWJ7T79hx+9/SSY61hgFnGzro/pnjUcLv0wkAjL3Wg1Nbj6YB2IrH0yGApcXH
cPWYvI6WGOs11MEmQmis8v2lk4Q8f6S1/81Vzb2I1EaReznxRQYOT/ilAoGBANa/
3QkXn+utgXYwQGo0r53okDswqDv/be2+k7vra31Zy7ZBdzV6gJFVkie7NUgyDdZ2
gSqSHldI725MH1bX/ECFZTo/X0o34/t0P4fs5kNdWz9N05fREKsgrhshyi9czwmJ
HnErjVQ5f2Fv6zZFPZPb2T4JfMUQdiRG2LDeOGk9AoGBAMU+3QrLwf4KkiMr1KnS
Utj7MaaQ7MxXR2lHkp5RrqJvEriK0bf1GuFPjbiVpQYLC10ygHP42e0c6oVksCZC
H+U+sybNz9T4ZLxmwN9NUYRrEbXeRB9HnfrAhreWqPdQgIwgG8bJgAffIM5f6mMs
lVU6vPGcqbu7w4FnNXejPJ2dAoGAUJQ3jSTXNeipzj42vWM9jkPocr1EMxcaGX5M
EtQ4RhW+kYmpAGESAvaX296sFIXrmVBoESA40Emmxb08eSqcFV24aQ3EZKXqHr00
5Xznvdk21t8OCUZCOeQOUFHyeqkZapuP16ke476bZGVJXdjHTUbOEjAfKBaQLfaD
coI/qoUCgYAQ95E277LDuyX4QS4e8PSOw6yH7AHch+KCsVCteUFx3/q7zzR9iJwF
9xfLOBq8NSPEXK2icFdLqguUe8VRSExOlwX1B8k/GMdn5PJiOPSrD0IX0uBswm58
+UZIPNaDxT2ekPEsEw01bqD4sSbaq5pbPTkhTIznogL8+fzJJSd2Ng==
-----END RSA PRIVATE KEY-----"""
WECHATPY_MESSAGE = "GET\ntest\n1651854037\n1E3A8D73B5A4AEE787C0F68B5DAB8520\n\n"
WECHATPY_SIGNATURE = (
    "c4VewIfiOrSXkYtGqoZFzzjOr3LMhFFJRD5l18glbIUyXEF1wcG1euB4w5QdBlhgytM+28W7wmwqWTA8RsQWTBXR0YEXC6Mt"
    "d5xplSXlXghv7ORl0a2TRVQSuf/vhKOdXc54Ima3wqj8AOkMeaiswp8fdnwd6yq1s0bx6uchP9Q6PO0INGnpdH8NeKP21dle"
    "feOc4H7OvnqHEyj/BsvdE1/DYUIFkw1q5fIAfxcUoqeXThtIL6ajLZgaaQJgYhPV7Cd6UMf5gY3yxKYWIWWHALtdWrn+pCcI"
    "PKrop/keqHE9wJPYtAP3uJ8UKohiHDft01X5ex0Es5Z12+lR9VLyEQ=="
)

# 7. Official signing guide sample (pay.weixin.qq.com).
DOC_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCm2mb6q8gMKH/3
CNTbpJAIrbqiBiQGEOtjGcBrDYltsGynWgNscqT7WvfzU14FQbYcQUC5T4Wvva7m
i3fIp3OgX8VqMDNA0qebnr38Pe6kqiLyZgFpJPXlSKDyPyqhRbVTbXssvSMQeVKc
dXeVxoNNeoOlNFHgF/P0io6AmAVnz+hN8SiZKuOsth5/zUTLGvtkgxBcQooQrtXh
RcpLT798OyIb9xeJ2HO3xRtMv2+perEzb4gMibI74UBz+2QEbnkubPE+2jU2rRZu
dnNEz/BPOt3Qj/w2V6/G0VumGDh6+UeMU0jv4aupHztWITC4Akn0l7lBCNy3lgl8
VFaJnkIxAgMBAAECggEAYGL8aESB7NwciDWW2UdoWUsa7GxFtSdjAz2mFXGdeTsY
mVh7b9OOkRGM+Qio4LqEHDBp1mMk5E/cUJwy1zw8pGGO5nfvs7u9TT3XnHaefIs4
YvUgTYAneIuLRkXNN5rQU+CD7mVYczTSz0Vgjqo9wa1LjUz7G0xbBmJgTdMEFGJs
eJjy6AbJo0CGIwp6HJbTm4CmOUgXnnDAIbEGTIRImkZFH/rzneIeR7oZ77FVwxr1
CZB2gfRCov/yRPbw8vnryYkmvQ7D/ze3j5097vRg/MoDGBSdoOwcmo75vyofr0AS
zytMjmHYyifqkf5slPropSiJeGf4p/7gtKyF6dE/XQKBgQDVAlJ+4U5ZVGOuDc3+
sAhz8CTzgFNlq9vKuSoFK6hOz2L+cwj+E7NXGkOe2DsHHZNy2Xqxk7caKhPEp1z9
hhpMpyLVMoFt6CKemyoRBWDCQwLLwem9SZF/IAyovBkLiH36P42Jm26gUkNMKC/5
Zhtqxf6RZgRQzbVudJi47vIRCwKBgQDIh0+v27Oo+DM3fhObH4I1NrXpWOEGH7OQ
G1dEsMuFYF4hjGhg0kBEP3w9vVdl2+mRllZKTsx9oqjb8OibPLLIH8xsdbAB0WLf
JvjLu4wl/ILUzN1RI03dWnnv2EnEeQn6c3hizvrJ9wR5U4ue9RPVnQooJ0hZF1PU
uCL5fWK3MwKBgElReU/PAYbh80WP3t3Rfbdaa32dKBeQ5iCLR5lsA4zM+YgX1HqQ
EWTj126vgvHaDkyz6vWAoL/Sx+cirHFfXWIRDX5Q2hgYlQH+6qXdMgbrxeSYpHnQ
/tHBGFpkFELSAnrGsVMyOwvYBO4LzyeLK9i+ufcWJFoj1FVmsMLHDG8tAoGARdbi
iQQCoYG4DMarO2aQ6cmhN6EN1h0qY7EyBqlwaIZ0okiNfdMcMOjPc41DKCWcRmlO
qlihXcxN9TQFPzO3rH1urAOdBjUPs1qWYhZyrDQyuLyVBBJApyxAtajloDjrob+f
mQIvVDHk7ACN6xG+E7K6+9salnTKbJapD618uQMCgYBNy6XUvzLkP/A1U/UZdtcx
l8GwU/dturLxz4CyGbqDw4ubaYY2e13lnqHUqQgPtiSyH51nq3tdo8G0YAJdfkSv
KvnfslW91fyEBUKnkdW1o3/1UFU/wprZ7ixVL/F42A4xDu7OFE8EnweJOZ0jWceE
OdhCkaIGBCfRnlECRK8UyQ==
-----END PRIVATE KEY-----"""
DOC_MCHID = "1900007291"
DOC_SERIAL = "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB"
DOC_TIMESTAMP = 1554208460
DOC_NONCE = "593BEC0C930BF1AFEB40B4A08C8FB242"
DOC_BODY = (
    '{"appid":"wxd678efh567hg6787","mchid":"1900007291","description":"Image形象店-深圳腾大-QQ公仔","out'
    '_trade_no":"1217752501201407033233368018","notify_url":"https://www.weixin.qq.com/wxpay/pa'
    'y.php","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjW'
    'eS6o"}}'
).encode("utf-8")
DOC_SIGNATURE = (
    "jnks4dlrPw3ZX+ozVvSK39oa0t7OMBsg83BHAwd8BRdUFiVaQNTLTvci+wURgP1OQBbKYhFGvt7iqYpDSTQkp7Uq1sltaQKy"
    "ncCyrA1g88m5bsKERQfPyT0ahSwKTYJ1CAn9QiJuSJRq1QsQs07eehbU/k9BCS51jTyc1Jpsi2H77HF9f/BnjXAOP3/sPObg"
    "6V5Ee4EzwLox684hhuMuIwHo7D8KFk3LIHOKDcNI4It1aCXydFWNpNK+SG86VUDe5kwoDpw4Ulqfu9z8OFDGbDs9TCxEv8iq"
    "QzbpxOlEVoOe2kalSYM5kApQb3nZcxdUtoE0liJGW3RGUNE0t4v01A=="
)

# 8. Derived from vector 1's key: paySign and an empty-body response message.
PAYSIGN_FIELDS = ("wx8888888888888888", "1414561699", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                  "prepay_id=wx201410272009395522657a690389285100")
PAYSIGN = (
    "UV+EKQ3OdnOkUbbKaVi53s/67T59JbHx9gc9MaWoQEOaiZH+uYMByfW2MWXTZW1gnOXl1CqwzHtx7QUxfatSdSxgBhbNhJx1"
    "QaxkP0zSXAgXIoWPAktOlj9n/phfOH95rNl8bHzRDUoNAMQmfQy8SHGooKtEU6/87nWXHhcYarv/nmtgAJcwsV+lGJQ4jLZh"
    "Gl5BaAvpLW1Xg8yYg1DXNjik2SPK8d+4FRSkW671wIvxXQCYqG3mi3FvxP5XJ3OBVbPk4GRf/8wi2r2eiqXYd5e4mRMIAOGx"
    "qape9Cm46kxrjlHF0uM+wSir4Nychn2H5geUh2YvE8vJJMAqmkN2gg=="
)
EMPTY_RESPONSE = ("1700000000", "fdasflkja484w")
EMPTY_RESPONSE_SIGNATURE = (
    "DwhiAt1YsF4RHjsDz6IFB/gNMPXt/wDSUVcdJbUJRvSBk156uz3iFDCKJzv8+bi3tcy5q52On27PWjcTqzZzptS9igfEer9P"
    "i/iinQAF1B5Wxxg2ADIKRPpW4VCzhd5zISmpS4ZUdyKkAl3dtpRKKNARRsc1akZO53Rp0ucoAiGy0tzU62kIvbfqA/6vio50"
    "hMxEcZSqtZuvcP6tiQF1zdQUKlgu2x/XbWmFd7nNJQqDZcvjy0af/cDQ4PqT2n/+nufgacjHxADP4mg/7tAO1Op+3+YUCuT3"
    "EjhGT+4qqb+IkUG4VvPv8Pb4cf96vSi0AIC8Qgsct8Pm16UkFBbWkw=="
)
