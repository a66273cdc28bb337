// A small C interface over one PKCS#11 module, so that Swift never sees pkcs11.h
// (whose short macros such as `value` clash with Swift code).
#ifndef CUSTOS_PKCS11_H
#define CUSTOS_PKCS11_H
#include <stddef.h>
#include <stdint.h>

// Return codes are PKCS#11 CK_RV values, plus these (outside the PKCS#11 range).
#define CUSTOS_P11_MODULE_NOT_LOADED   0xC0000001UL  // dlopen failed
#define CUSTOS_P11_NO_FUNCTION_LIST    0xC0000002UL  // C_GetFunctionList missing or failed
#define CUSTOS_P11_TOKEN_NOT_FOUND     0xC0000003UL  // no initialised token has this label
#define CUSTOS_P11_KEY_NOT_FOUND       0xC0000004UL  // no object has this label
#define CUSTOS_P11_BUFFER_TOO_SMALL    0xC0000005UL

typedef struct custos_p11_session custos_p11_session;

// Loads `module_path` (once per process), finds the token labelled `token_label`,
// opens a read-write session and logs in as the user with `pin`.
unsigned long custos_p11_open(const char *module_path, const char *token_label,
                              const uint8_t *pin, size_t pin_len, custos_p11_session **out);
// (A failure other than a PIN refusal re-initialises the module once and retries, so a
// token that went away and came back is seen without restarting the process; the
// module's other sessions become stale, see custos_p11_is_stale.)
void custos_p11_close(custos_p11_session *session);
// C_Finalize then C_Initialize, once no call is in progress: every session of the
// module becomes stale.
unsigned long custos_p11_reinitialize(const char *module_path);
// Whether the session's module was re-initialised since it was opened (its calls then
// fail with CKR_SESSION_HANDLE_INVALID; open a new one).
int custos_p11_is_stale(custos_p11_session *s);

// Finds a secret key by label; returns CUSTOS_P11_KEY_NOT_FOUND when absent.
unsigned long custos_p11_find_secret_key(custos_p11_session *s, const char *label, unsigned long *handle);
// Creates a token AES-256 key: sensitive, not extractable, encrypt/decrypt only.
unsigned long custos_p11_generate_aes_key(custos_p11_session *s, const char *label, unsigned long *handle);
// Destroys the object with this handle.
unsigned long custos_p11_destroy(custos_p11_session *s, unsigned long handle);

// AES-GCM (CKM_AES_GCM, 128-bit tag) with a caller-chosen 12-byte IV.
// `out` receives ciphertext ‖ tag (encrypt) or the plaintext (decrypt); *out_len is its
// capacity on entry and the length written on return.
unsigned long custos_p11_gcm_encrypt(custos_p11_session *s, unsigned long key, const uint8_t iv[12],
                                     const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                                     uint8_t *out, size_t *out_len);
unsigned long custos_p11_gcm_decrypt(custos_p11_session *s, unsigned long key, const uint8_t iv[12],
                                     const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                                     uint8_t *out, size_t *out_len);

// Key pairs that never leave the token (security level Ultimate).
// kind: 1 = EC (params = DER OID of the curve), 2 = Ed25519 (params = DER of the
// printable string "edwards25519" or the OID), 3 = RSA (modulus_bits).
unsigned long custos_p11_generate_key_pair(custos_p11_session *s, int kind, const uint8_t *params, size_t params_len,
                                           unsigned long modulus_bits, const char *label,
                                           unsigned long *public_handle, unsigned long *private_handle);
// Finds a private key by label.
unsigned long custos_p11_find_private_key(custos_p11_session *s, const char *label, unsigned long *handle);
// Finds a public key by label.
unsigned long custos_p11_find_public_key(custos_p11_session *s, const char *label, unsigned long *handle);
// Reads one attribute (type = CKA_*) into out; *out_len is capacity in, length out.
unsigned long custos_p11_get_attribute(custos_p11_session *s, unsigned long handle, unsigned long type,
                                       uint8_t *out, size_t *out_len);
// C_Sign with a mechanism that takes no parameter, or RSA-PSS (pss_hash != 0: CKM_SHA256 etc.).
unsigned long custos_p11_sign(custos_p11_session *s, unsigned long key, unsigned long mechanism,
                              unsigned long pss_hash, unsigned long pss_mgf, unsigned long pss_salt,
                              const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len);
#endif
