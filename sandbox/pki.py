"""Test PKI for the sandbox, made with the `openssl` command-line tool.

Owns: the throw-away CA (`ca.pem`), the server certificate shared by the
token endpoint and Postfix (DNS:localhost + IP:127.0.0.1, signed by the CA),
the certificate-credential fixture client's RSA key and self-signed
certificate, and RSA signature verification for client assertions.

Why the CLI and not a Python package: the sandbox must run on a bare Debian
with nothing but the standard library, and `openssl` is there anyway.
EC P-256 keys are used where the key type does not matter (they are
generated in milliseconds); the client key is RSA 2048 because Entra's
client assertions are PS256/RS256.
"""

import base64
import hashlib
import os
import secrets
import subprocess
import tempfile

CA_SUBJECT = "/O=oauth2-sendmail sandbox/CN=oauth2-sendmail sandbox test CA"
SERVER_SUBJECT = "/O=oauth2-sendmail sandbox/CN=localhost"
# Certificates only need to outlive one test run; two days covers clock
# trouble without producing long-lived trust anchors.
DAYS = "2"

_SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


class PkiError(Exception):
    """An openssl invocation failed; the message carries its stderr."""


def _openssl(*args, stdin=None):
    proc = subprocess.run(
        ["openssl", *args], input=stdin, capture_output=True, check=False
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise PkiError(
            "openssl %s failed: %s" % (args[0], err[-1] if err else "?")
        )
    return proc.stdout


def _random_serial():
    # Positive 63-bit serial; avoids openssl's ca.srl bookkeeping file.
    return "0x%x" % (secrets.randbits(63) | 1)


def start_client_key(path):
    """Start RSA-2048 key generation in the background (it is the slow
    step, 100-600 ms); pass the result to finish_client_cert()."""
    return subprocess.Popen(
        ["openssl", "genpkey", "-algorithm", "RSA",
         "-pkeyopt", "rsa_keygen_bits:2048", "-out", path],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def make_ca_and_server(directory):
    """Create ca.pem/ca.key and server.pem/server.key in `directory`.
    Returns a dict of the four paths."""
    p = {
        "ca_cert": os.path.join(directory, "ca.pem"),
        "ca_key": os.path.join(directory, "ca.key"),
        "server_cert": os.path.join(directory, "server.pem"),
        "server_key": os.path.join(directory, "server.key"),
    }
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", p["ca_key"], "-out", p["ca_cert"],
        "-days", DAYS, "-subj", CA_SUBJECT, "-set_serial", _random_serial(),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )
    csr = os.path.join(directory, "server.csr")
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write(_SERVER_EXTENSIONS)
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", p["server_key"], "-out", csr,
        "-subj", SERVER_SUBJECT,
    )
    _openssl(
        "x509", "-req", "-in", csr, "-CA", p["ca_cert"], "-CAkey", p["ca_key"],
        "-set_serial", _random_serial(), "-days", DAYS, "-extfile", ext,
        "-out", p["server_cert"],
    )
    os.unlink(csr)
    os.unlink(ext)
    # Postfix and Dovecot read the key as root before dropping privileges;
    # nobody else needs it.
    os.chmod(p["server_key"], 0o600)
    os.chmod(p["ca_key"], 0o600)
    return p


def finish_client_cert(keygen, key_path, cert_path, common_name):
    """Wait for start_client_key(), then self-sign a certificate for it and
    extract the public key. Returns (cert_path, key_path, pubkey_path)."""
    _, err = keygen.communicate()
    if keygen.returncode != 0:
        raise PkiError("openssl genpkey failed: %s"
                       % err.decode(errors="replace").strip())
    _openssl(
        "req", "-x509", "-key", key_path, "-out", cert_path, "-days", "365",
        "-subj", "/CN=%s" % common_name, "-set_serial", _random_serial(),
    )
    pub_path = cert_path.replace(".pem", ".pub.pem")
    with open(pub_path, "wb") as f:
        f.write(_openssl("x509", "-in", cert_path, "-noout", "-pubkey"))
    os.chmod(key_path, 0o600)
    return cert_path, key_path, pub_path


def cert_der(cert_path):
    """DER bytes of a PEM certificate (stdlib only: strip armour, decode)."""
    with open(cert_path) as f:
        text = f.read()
    body = text.split("-----BEGIN CERTIFICATE-----")[1].split(
        "-----END CERTIFICATE-----")[0]
    return base64.b64decode("".join(body.split()))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprints(cert_path):
    """(x5t#S256, x5t) as Entra compares them: base64url of the SHA-256 and
    the SHA-1 of the certificate's DER encoding."""
    der = cert_der(cert_path)
    return b64url(hashlib.sha256(der).digest()), b64url(hashlib.sha1(der).digest())


def verify_rsa_signature(pubkey_path, alg, signing_input, signature):
    """True if `signature` over `signing_input` verifies for JWS `alg`
    (PS256: RSA-PSS, SHA-256, MGF1-SHA-256, salt length = digest length, as
    RFC 7518 requires; RS256: PKCS#1 v1.5)."""
    if alg not in ("PS256", "RS256"):
        return False
    with tempfile.TemporaryDirectory(prefix="sandbox-jws-") as tmp:
        data = os.path.join(tmp, "data")
        sig = os.path.join(tmp, "sig")
        with open(data, "wb") as f:
            f.write(signing_input)
        with open(sig, "wb") as f:
            f.write(signature)
        cmd = ["openssl", "dgst", "-sha256", "-verify", pubkey_path,
               "-signature", sig]
        if alg == "PS256":
            cmd += ["-sigopt", "rsa_padding_mode:pss",
                    "-sigopt", "rsa_pss_saltlen:-1",
                    "-sigopt", "rsa_mgf1_md:sha256"]
        cmd.append(data)
        proc = subprocess.run(cmd, capture_output=True, check=False)
        return proc.returncode == 0


def sign_rsa(key_path, alg, signing_input):
    """Sign like a client would (used by the self-test to make assertions)."""
    with tempfile.TemporaryDirectory(prefix="sandbox-jws-") as tmp:
        data = os.path.join(tmp, "data")
        with open(data, "wb") as f:
            f.write(signing_input)
        cmd = ["dgst", "-sha256", "-sign", key_path]
        if alg == "PS256":
            cmd += ["-sigopt", "rsa_padding_mode:pss",
                    "-sigopt", "rsa_pss_saltlen:-1",
                    "-sigopt", "rsa_mgf1_md:sha256"]
        cmd.append(data)
        return _openssl(*cmd)
