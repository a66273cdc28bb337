#include "custos_tpm.h"
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

typedef struct {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
} conn;

static TSS2_RC connect(const char *tcti_conf, conn *c) {
    memset(c, 0, sizeof *c);
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti_conf, &c->tcti);
    if (rc != TSS2_RC_SUCCESS) return rc;
    rc = Esys_Initialize(&c->esys, c->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) { Tss2_TctiLdr_Finalize(&c->tcti); return rc; }
    return TSS2_RC_SUCCESS;
}

static void disconnect(conn *c) {
    if (c->esys) Esys_Finalize(&c->esys);
    if (c->tcti) Tss2_TctiLdr_Finalize(&c->tcti);
}

static TSS2_RC set_auth(ESYS_CONTEXT *esys, ESYS_TR handle, const uint8_t *auth, size_t len) {
    TPM2B_AUTH a;
    memset(&a, 0, sizeof a);
    if (len > sizeof a.buffer) return CUSTOS_TPM_BAD_ARGUMENT;
    a.size = (UINT16)len;
    if (len) memcpy(a.buffer, auth, len);
    TSS2_RC rc = Esys_TR_SetAuth(esys, handle, &a);
    memset(&a, 0, sizeof a);
    return rc;
}

// The standard ECC P-256 storage primary (as tpm2_createprimary -C o -G ecc builds it).
static TSS2_RC create_primary(ESYS_CONTEXT *esys, const uint8_t *owner_auth, size_t owner_auth_len, ESYS_TR *primary) {
    TSS2_RC rc = set_auth(esys, ESYS_TR_RH_OWNER, owner_auth, owner_auth_len);
    if (rc != TSS2_RC_SUCCESS) return rc;
    TPM2B_SENSITIVE_CREATE sensitive;
    memset(&sensitive, 0, sizeof sensitive);
    TPM2B_PUBLIC pub;
    memset(&pub, 0, sizeof pub);
    pub.publicArea.type = TPM2_ALG_ECC;
    pub.publicArea.nameAlg = TPM2_ALG_SHA256;
    pub.publicArea.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
        TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_NODA;
    pub.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
    pub.publicArea.parameters.eccDetail.symmetric.keyBits.aes = 128;
    pub.publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    pub.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    pub.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    pub.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    TPM2B_DATA outside;
    memset(&outside, 0, sizeof outside);
    TPML_PCR_SELECTION creation_pcr;
    memset(&creation_pcr, 0, sizeof creation_pcr);
    return Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                              &sensitive, &pub, &outside, &creation_pcr, primary, NULL, NULL, NULL, NULL);
}

static void pcr_selection(uint32_t mask, TPML_PCR_SELECTION *sel) {
    memset(sel, 0, sizeof *sel);
    sel->count = 1;
    sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel->pcrSelections[0].sizeofSelect = 3;
    sel->pcrSelections[0].pcrSelect[0] = mask & 0xff;
    sel->pcrSelections[0].pcrSelect[1] = (mask >> 8) & 0xff;
    sel->pcrSelections[0].pcrSelect[2] = (mask >> 16) & 0xff;
}

// A session salted with the storage primary, so its key never crosses the TPM interface,
// that encrypts the first parameter: the sealed data going in (Create) or out (Unseal).
static TSS2_RC salted_session(ESYS_CONTEXT *esys, ESYS_TR primary, TPM2_SE type, TPMA_SESSION attributes, ESYS_TR *session) {
    TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits = { .aes = 128 }, .mode = { .aes = TPM2_ALG_CFB } };
    TSS2_RC rc = Esys_StartAuthSession(esys, primary, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       NULL, type, &sym, TPM2_ALG_SHA256, session);
    if (rc != TSS2_RC_SUCCESS) return rc;
    rc = Esys_TRSess_SetAttributes(esys, *session, attributes | TPMA_SESSION_CONTINUESESSION, 0xff);
    if (rc != TSS2_RC_SUCCESS) { Esys_FlushContext(esys, *session); *session = ESYS_TR_NONE; }
    return rc;
}

// Applies the sealed object's policy to a policy (or trial) session: PolicyPCR on the
// current PCR values, then PolicyAuthValue (the object's auth is needed as well), except
// for objects sealed before it was added (`pcr_only`).
static TSS2_RC apply_policy(ESYS_CONTEXT *esys, ESYS_TR session, uint32_t mask, int pcr_only) {
    TPML_PCR_SELECTION sel;
    pcr_selection(mask, &sel);
    TPM2B_DIGEST empty;
    memset(&empty, 0, sizeof empty);
    TSS2_RC rc = Esys_PolicyPCR(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &sel);
    if (rc != TSS2_RC_SUCCESS || pcr_only) return rc;
    return Esys_PolicyAuthValue(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE);
}

uint32_t custos_tpm_seal(const char *tcti, const uint8_t *owner_auth, size_t owner_auth_len,
                         const uint8_t *object_auth, size_t object_auth_len, uint32_t pcr_mask,
                         const uint8_t *data, size_t data_len,
                         uint8_t *public_out, size_t *public_len, uint8_t *private_out, size_t *private_len) {
    if (data_len == 0 || data_len > 128 || object_auth_len > 64 || pcr_mask > 0xffffff) return CUSTOS_TPM_BAD_ARGUMENT;
    conn c;
    TSS2_RC rc = connect(tcti, &c);
    if (rc != TSS2_RC_SUCCESS) return rc;
    ESYS_TR primary = ESYS_TR_NONE, trial = ESYS_TR_NONE, session = ESYS_TR_NONE;
    TPM2B_DIGEST *policy = NULL;
    TPM2B_PUBLIC *out_pub = NULL;
    TPM2B_PRIVATE *out_priv = NULL;
    TPM2B_SENSITIVE_CREATE sensitive;
    memset(&sensitive, 0, sizeof sensitive);

    rc = create_primary(c.esys, owner_auth, owner_auth_len, &primary);
    if (rc != TSS2_RC_SUCCESS) goto done;

    TPM2B_PUBLIC pub;
    memset(&pub, 0, sizeof pub);
    pub.publicArea.type = TPM2_ALG_KEYEDHASH;
    pub.publicArea.nameAlg = TPM2_ALG_SHA256;
    // No NODA: wrong authorization values count towards the TPM's dictionary-attack lockout.
    pub.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
    pub.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    if (pcr_mask) {
        TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits = { .aes = 128 }, .mode = { .aes = TPM2_ALG_CFB } };
        rc = Esys_StartAuthSession(c.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   NULL, TPM2_SE_TRIAL, &sym, TPM2_ALG_SHA256, &trial);
        if (rc != TSS2_RC_SUCCESS) goto done;
        rc = apply_policy(c.esys, trial, pcr_mask, 0);
        if (rc != TSS2_RC_SUCCESS) goto done;
        rc = Esys_PolicyGetDigest(c.esys, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &policy);
        if (rc != TSS2_RC_SUCCESS) goto done;
        pub.publicArea.authPolicy = *policy;
    } else {
        pub.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
    }
    sensitive.sensitive.userAuth.size = (UINT16)object_auth_len;
    if (object_auth_len) memcpy(sensitive.sensitive.userAuth.buffer, object_auth, object_auth_len);
    sensitive.sensitive.data.size = (UINT16)data_len;
    memcpy(sensitive.sensitive.data.buffer, data, data_len);
    TPM2B_DATA outside;
    memset(&outside, 0, sizeof outside);
    TPML_PCR_SELECTION creation_pcr;
    memset(&creation_pcr, 0, sizeof creation_pcr);
    rc = salted_session(c.esys, primary, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT, &session);
    if (rc != TSS2_RC_SUCCESS) goto done;
    rc = Esys_Create(c.esys, primary, session, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &pub, &outside,
                     &creation_pcr, &out_priv, &out_pub, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) goto done;
    size_t off = 0;
    rc = Tss2_MU_TPM2B_PUBLIC_Marshal(out_pub, public_out, *public_len, &off);
    if (rc != TSS2_RC_SUCCESS) goto done;
    *public_len = off;
    off = 0;
    rc = Tss2_MU_TPM2B_PRIVATE_Marshal(out_priv, private_out, *private_len, &off);
    if (rc != TSS2_RC_SUCCESS) goto done;
    *private_len = off;
done:
    memset(&sensitive, 0, sizeof sensitive);
    if (session != ESYS_TR_NONE) Esys_FlushContext(c.esys, session);
    if (trial != ESYS_TR_NONE) Esys_FlushContext(c.esys, trial);
    if (primary != ESYS_TR_NONE) Esys_FlushContext(c.esys, primary);
    Esys_Free(policy);
    Esys_Free(out_pub);
    Esys_Free(out_priv);
    disconnect(&c);
    return rc;
}

uint32_t custos_tpm_unseal(const char *tcti, const uint8_t *owner_auth, size_t owner_auth_len,
                           const uint8_t *object_auth, size_t object_auth_len, uint32_t pcr_mask,
                           const uint8_t *public_in, size_t public_len, const uint8_t *private_in, size_t private_len,
                           uint8_t *data_out, size_t *data_len) {
    if (object_auth_len > 64 || pcr_mask > 0xffffff) return CUSTOS_TPM_BAD_ARGUMENT;
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
    memset(&pub, 0, sizeof pub);
    memset(&priv, 0, sizeof priv);
    size_t off = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(public_in, public_len, &off, &pub) != TSS2_RC_SUCCESS || off != public_len)
        return CUSTOS_TPM_BAD_ARGUMENT;
    off = 0;
    if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(private_in, private_len, &off, &priv) != TSS2_RC_SUCCESS || off != private_len)
        return CUSTOS_TPM_BAD_ARGUMENT;
    conn c;
    TSS2_RC rc = connect(tcti, &c);
    if (rc != TSS2_RC_SUCCESS) return rc;
    ESYS_TR primary = ESYS_TR_NONE, object = ESYS_TR_NONE, session = ESYS_TR_NONE;
    TPM2B_SENSITIVE_DATA *out = NULL;
    rc = create_primary(c.esys, owner_auth, owner_auth_len, &primary);
    if (rc != TSS2_RC_SUCCESS) goto done;
    rc = Esys_Load(c.esys, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &object);
    if (rc != TSS2_RC_SUCCESS) goto done;
    // Objects sealed before lockout and PolicyAuthValue were added carry NODA.
    int legacy = (pub.publicArea.objectAttributes & TPMA_OBJECT_NODA) != 0;
    rc = salted_session(c.esys, primary, pcr_mask ? TPM2_SE_POLICY : TPM2_SE_HMAC, TPMA_SESSION_ENCRYPT, &session);
    if (rc != TSS2_RC_SUCCESS) goto done;
    if (pcr_mask) {
        rc = apply_policy(c.esys, session, pcr_mask, legacy);
        if (rc != TSS2_RC_SUCCESS) goto done;
    }
    rc = set_auth(c.esys, object, object_auth, object_auth_len);
    if (rc != TSS2_RC_SUCCESS) goto done;
    rc = Esys_Unseal(c.esys, object, session, ESYS_TR_NONE, ESYS_TR_NONE, &out);
    if (rc != TSS2_RC_SUCCESS) goto done;
    if (out->size > *data_len) { rc = CUSTOS_TPM_BUFFER_TOO_SMALL; goto done; }
    memcpy(data_out, out->buffer, out->size);
    *data_len = out->size;
done:
    if (out) { memset(out, 0, sizeof *out); Esys_Free(out); }
    if (session != ESYS_TR_NONE) Esys_FlushContext(c.esys, session);
    if (object != ESYS_TR_NONE) Esys_FlushContext(c.esys, object);
    if (primary != ESYS_TR_NONE) Esys_FlushContext(c.esys, primary);
    disconnect(&c);
    return rc;
}

const char *custos_tpm_describe(uint32_t rc) {
    if (rc == CUSTOS_TPM_BAD_ARGUMENT) return "malformed sealed object or argument";
    if (rc == CUSTOS_TPM_BUFFER_TOO_SMALL) return "sealed data larger than expected";
    return Tss2_RC_Decode(rc);
}
