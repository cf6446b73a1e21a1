#!/usr/bin/env python3
"""A real SMTP server for ops-notify's tests (aiosmtpd): one port with STARTTLS required
and AUTH only over TLS, one with implicit TLS and AUTH. Every accepted message is
recorded as a JSON line. Usage: smtp_receiver.py LOG READY_FILE CERT KEY USER PASSWORD_FILE STARTTLS_PORT IMPLICIT_PORT
"""
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LOG, PORTS_FILE, CERT, KEY, USER, PASSWORD_FILE = sys.argv[1:7]
STARTTLS_PORT, IMPLICIT_PORT = int(sys.argv[7]), int(sys.argv[8])
PASSWORD = open(PASSWORD_FILE).read().strip().encode()


class Handler:
    def __init__(self, port_name):
        self.port_name = port_name

    async def handle_DATA(self, server, session, envelope):
        with open(LOG, "a") as f:
            f.write(json.dumps({
                "port": self.port_name,
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
                "authenticated": session.authenticated,
            }) + "\n")
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and auth_data.password == PASSWORD
    return AuthResult(success=ok, handled=False)


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(CERT, KEY)

starttls = Controller(Handler("starttls"), hostname="127.0.0.1", port=STARTTLS_PORT, tls_context=ctx,
                      require_starttls=True, authenticator=authenticator, auth_require_tls=True,
                      auth_required=True,
                      # AUTH PLAIN only, as Postfix and Dovecot offer it first: aiosmtpd's LOGIN
                      # challenge ("User Name") is one Alertmanager's client refuses.
                      auth_exclude_mechanism=["LOGIN"])
starttls.start()
implicit = Controller(Handler("implicit"), hostname="127.0.0.1", port=IMPLICIT_PORT, ssl_context=ctx,
                      authenticator=authenticator, auth_require_tls=False, auth_required=True)
implicit.start()


with open(PORTS_FILE + ".tmp", "w") as f:
    json.dump({"starttls": STARTTLS_PORT, "implicit": IMPLICIT_PORT}, f)
os.rename(PORTS_FILE + ".tmp", PORTS_FILE)
while True:
    time.sleep(3600)
