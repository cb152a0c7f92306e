#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
/* libcrypto's EVP ciphers for the simulators' DES, 3DES and SM4. */
#include <openssl/evp.h>
#endif
