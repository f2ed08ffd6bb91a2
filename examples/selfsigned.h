/* selfsigned.h - a self-signed certificate for the demo server and tests.
 *
 * ECDSA P-256, SHA-256, X.509 v3: CN and subjectAltName DNS = host, plus
 * IP 127.0.0.1 and ::1; basicConstraints CA:FALSE, keyUsage
 * digitalSignature, extendedKeyUsage serverAuth. Made with the TLS library
 * the build uses: the file is compiled with SELFSIGNED_OPENSSL=1 or
 * SELFSIGNED_MBEDTLS=1 (examples/CMakeLists.txt derives it from HZ_TLS);
 * without either (HZ_TLS=none) both functions fail with "no TLS".
 *
 * Good for development only: clients must be told to trust it
 * (curl --cacert cert.pem). */
#ifndef SELFSIGNED_H
#define SELFSIGNED_H

#include <stddef.h>

/** Writes a new key (PKCS#8 or SEC1 PEM, mode 0600) to key_path and its
 *  certificate (PEM, mode 0644, valid from one hour ago for days days) to
 *  cert_path. Each file is written to a temporary name and renamed, so a
 *  reader never sees half a file. host: 1..63 characters. 0, or -1 with a
 *  message in err (errlen bytes). */
int selfsigned_write(const char *cert_path, const char *key_path, const char *host, int days,
                     char *err, size_t errlen);

/** Makes sure dir (created 0700 if missing) holds cert.pem and key.pem for
 *  host "localhost", valid one year: reuses them unless one is missing or
 *  the certificate is older than 11 months, else writes new ones. Two
 *  processes calling it at once are serialised by a lock file. Fills
 *  cert_path and key_path (cap bytes each). 1 when existing files were
 *  reused, 0 when new ones were made, -1 with a message in err. */
int selfsigned_ensure(const char *dir, char *cert_path, char *key_path, size_t cap, char *err,
                      size_t errlen);

#endif /* SELFSIGNED_H */
