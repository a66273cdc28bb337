// Sealing a small secret in a TPM 2.0 through the TSS2 ESAPI, as a C interface that
// Swift calls without seeing the TSS2 headers.
#ifndef CUSTOS_TPM_H
#define CUSTOS_TPM_H
#include <stddef.h>
#include <stdint.h>

// Return codes are TSS2_RC values, plus these.
#define CUSTOS_TPM_BAD_ARGUMENT 0xC0000101U
#define CUSTOS_TPM_BUFFER_TOO_SMALL 0xC0000102U

// Seals `data` (at most 128 bytes) as a keyed-hash object under a primary ECC P-256
// storage key of the owner hierarchy (re-created from the standard template on each
// call, so nothing persists in the TPM). When pcr_mask is not 0 the object opens only
// under a policy on those SHA-256 PCRs' current values; otherwise with `object_auth`.
// Outputs the marshalled TPM2B_PUBLIC and TPM2B_PRIVATE.
uint32_t custos_tpm_seal(const char *tcti, const uint8_t *owner_auth, size_t owner_auth_len,
                         const uint8_t *object_auth, size_t object_auth_len, uint32_t pcr_mask,
                         const uint8_t *data, size_t data_len,
                         uint8_t *public_out, size_t *public_len, uint8_t *private_out, size_t *private_len);

uint32_t custos_tpm_unseal(const char *tcti, const uint8_t *owner_auth, size_t owner_auth_len,
                           const uint8_t *object_auth, size_t object_auth_len, uint32_t pcr_mask,
                           const uint8_t *public_in, size_t public_len, const uint8_t *private_in, size_t private_len,
                           uint8_t *data_out, size_t *data_len);

// A short text for a TSS2 return code (static storage).
const char *custos_tpm_describe(uint32_t rc);
#endif
