#include "custos_pkcs11.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit-1/p11-kit/pkcs11.h>

struct custos_p11_session {
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE h;
    int module;
    unsigned long generation;  // the module's generation when the session was opened
};

// Modules stay loaded for the life of the process: C_Initialize once per module.
// `generation` counts re-initialisations: a session from an earlier one is stale.
#define MAX_MODULES 8
static struct { char *path; CK_FUNCTION_LIST_PTR f; unsigned long generation; } modules[MAX_MODULES];
static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;

// Every call on a session holds `calls` shared; re-initialising a module holds it
// exclusively, so C_Finalize never runs under a call in progress, and a stale session's
// calls fail with CKR_SESSION_HANDLE_INVALID without reaching the module.
static pthread_rwlock_t calls = PTHREAD_RWLOCK_INITIALIZER;

static CK_RV enter(custos_p11_session *s) {
    pthread_rwlock_rdlock(&calls);
    if (s->generation != modules[s->module].generation) {
        pthread_rwlock_unlock(&calls);
        return CKR_SESSION_HANDLE_INVALID;
    }
    return CKR_OK;
}

#define GUARDED(s, expression) do { \
        CK_RV guarded_rv = enter(s); \
        if (guarded_rv != CKR_OK) return guarded_rv; \
        guarded_rv = (expression); \
        pthread_rwlock_unlock(&calls); \
        return guarded_rv; \
    } while (0)

static CK_RV load_module(const char *path, CK_FUNCTION_LIST_PTR *out, int *index) {
    pthread_mutex_lock(&modules_lock);
    int free_slot = -1;
    for (int i = 0; i < MAX_MODULES; i++) {
        if (modules[i].path && strcmp(modules[i].path, path) == 0) {
            *out = modules[i].f;
            *index = i;
            pthread_mutex_unlock(&modules_lock);
            return CKR_OK;
        }
        if (!modules[i].path && free_slot < 0) free_slot = i;
    }
    if (free_slot < 0) { pthread_mutex_unlock(&modules_lock); return CKR_HOST_MEMORY; }
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) { pthread_mutex_unlock(&modules_lock); return CUSTOS_P11_MODULE_NOT_LOADED; }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR f = NULL;
    if (!get || get(&f) != CKR_OK || !f) { pthread_mutex_unlock(&modules_lock); return CUSTOS_P11_NO_FUNCTION_LIST; }
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) { pthread_mutex_unlock(&modules_lock); return rv; }
    modules[free_slot].path = strdup(path);
    modules[free_slot].f = f;
    *out = f;
    *index = free_slot;
    pthread_mutex_unlock(&modules_lock);
    return CKR_OK;
}

static int label_matches(const unsigned char padded[32], const char *label) {
    size_t n = strlen(label);
    if (n > 32) return 0;
    if (memcmp(padded, label, n) != 0) return 0;
    for (size_t i = n; i < 32; i++) if (padded[i] != ' ') return 0;
    return 1;
}

static CK_RV open_once(CK_FUNCTION_LIST_PTR f, const char *token_label,
                       const uint8_t *pin, size_t pin_len, custos_p11_session **out);

// A module whose token went away keeps stale state (SoftHSM2 keeps its object store in
// memory): finalising and initialising it again is the PKCS#11 way to see a token that
// came back. Done only after a failure other than a PIN refusal, with no call in
// progress; the module's other sessions become stale (their owners open new ones).
static CK_RV reinitialize(CK_FUNCTION_LIST_PTR f, int index) {
    pthread_rwlock_wrlock(&calls);
    f->C_Finalize(NULL);
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = f->C_Initialize(&args);
    modules[index].generation++;
    pthread_rwlock_unlock(&calls);
    return rv == CKR_CRYPTOKI_ALREADY_INITIALIZED ? CKR_OK : rv;
}

static CK_RV open_current(CK_FUNCTION_LIST_PTR f, int index, const char *token_label,
                          const uint8_t *pin, size_t pin_len, custos_p11_session **out) {
    pthread_rwlock_rdlock(&calls);
    CK_RV rv = open_once(f, token_label, pin, pin_len, out);
    if (rv == CKR_OK) {
        (*out)->module = index;
        (*out)->generation = modules[index].generation;
    }
    pthread_rwlock_unlock(&calls);
    return rv;
}

unsigned long custos_p11_open(const char *module_path, const char *token_label,
                              const uint8_t *pin, size_t pin_len, custos_p11_session **out) {
    CK_FUNCTION_LIST_PTR f;
    int index;
    CK_RV rv = load_module(module_path, &f, &index);
    if (rv != CKR_OK) return rv;
    rv = open_current(f, index, token_label, pin, pin_len, out);
    if (rv == CKR_OK || rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED) return rv;
    if (reinitialize(f, index) != CKR_OK) return rv;
    return open_current(f, index, token_label, pin, pin_len, out);
}

unsigned long custos_p11_reinitialize(const char *module_path) {
    CK_FUNCTION_LIST_PTR f;
    int index;
    CK_RV rv = load_module(module_path, &f, &index);
    if (rv != CKR_OK) return rv;
    return reinitialize(f, index);
}

int custos_p11_is_stale(custos_p11_session *s) {
    pthread_rwlock_rdlock(&calls);
    int stale = s->generation != modules[s->module].generation;
    pthread_rwlock_unlock(&calls);
    return stale;
}

static CK_RV open_once(CK_FUNCTION_LIST_PTR f, const char *token_label,
                       const uint8_t *pin, size_t pin_len, custos_p11_session **out) {
    CK_RV rv;
    CK_ULONG count = 0;
    rv = f->C_GetSlotList(CK_TRUE, NULL, &count);
    if (rv != CKR_OK) return rv;
    CK_SLOT_ID *slots = calloc(count ? count : 1, sizeof(CK_SLOT_ID));
    if (!slots) return CKR_HOST_MEMORY;
    rv = f->C_GetSlotList(CK_TRUE, slots, &count);
    if (rv != CKR_OK) { free(slots); return rv; }
    CK_SLOT_ID slot = 0;
    int found = 0;
    for (CK_ULONG i = 0; i < count && !found; i++) {
        CK_TOKEN_INFO info;
        if (f->C_GetTokenInfo(slots[i], &info) == CKR_OK && (info.flags & CKF_TOKEN_INITIALIZED) &&
            label_matches(info.label, token_label)) {
            slot = slots[i];
            found = 1;
        }
    }
    free(slots);
    if (!found) return CUSTOS_P11_TOKEN_NOT_FOUND;
    CK_SESSION_HANDLE h;
    rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
    if (rv != CKR_OK) return rv;
    rv = f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, pin_len);
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) { f->C_CloseSession(h); return rv; }
    custos_p11_session *s = malloc(sizeof *s);
    if (!s) { f->C_CloseSession(h); return CKR_HOST_MEMORY; }
    s->f = f;
    s->h = h;
    *out = s;
    return CKR_OK;
}

void custos_p11_close(custos_p11_session *s) {
    if (!s) return;
    if (enter(s) == CKR_OK) {
        s->f->C_CloseSession(s->h);
        pthread_rwlock_unlock(&calls);
    }
    free(s);
}

static unsigned long find_by_label(custos_p11_session *s, CK_OBJECT_CLASS cls, const char *label, unsigned long *handle) {
    CK_ATTRIBUTE templ[2];
    templ[0].type = CKA_CLASS; templ[0].pValue = &cls; templ[0].ulValueLen = sizeof cls;
    templ[1].type = CKA_LABEL; templ[1].pValue = (void *)label; templ[1].ulValueLen = strlen(label);
    CK_RV rv = s->f->C_FindObjectsInit(s->h, templ, 2);
    if (rv != CKR_OK) return rv;
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    rv = s->f->C_FindObjects(s->h, found, 2, &n);
    s->f->C_FindObjectsFinal(s->h);
    if (rv != CKR_OK) return rv;
    if (n == 0) return CUSTOS_P11_KEY_NOT_FOUND;
    *handle = found[0];
    return CKR_OK;
}

unsigned long custos_p11_find_secret_key(custos_p11_session *s, const char *label, unsigned long *handle) {
    GUARDED(s, find_by_label(s, CKO_SECRET_KEY, label, handle));
}
unsigned long custos_p11_find_private_key(custos_p11_session *s, const char *label, unsigned long *handle) {
    GUARDED(s, find_by_label(s, CKO_PRIVATE_KEY, label, handle));
}
unsigned long custos_p11_find_public_key(custos_p11_session *s, const char *label, unsigned long *handle) {
    GUARDED(s, find_by_label(s, CKO_PUBLIC_KEY, label, handle));
}

static unsigned long generate_aes_key(custos_p11_session *s, const char *label, unsigned long *handle) {
    CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE templ[] = {
        { CKA_TOKEN, &yes, sizeof yes }, { CKA_PRIVATE, &yes, sizeof yes },
        { CKA_SENSITIVE, &yes, sizeof yes }, { CKA_EXTRACTABLE, &no, sizeof no },
        { CKA_ENCRYPT, &yes, sizeof yes }, { CKA_DECRYPT, &yes, sizeof yes },
        { CKA_WRAP, &no, sizeof no }, { CKA_UNWRAP, &no, sizeof no },
        { CKA_VALUE_LEN, &len, sizeof len }, { CKA_LABEL, (void *)label, strlen(label) },
    };
    CK_OBJECT_HANDLE h;
    CK_RV rv = s->f->C_GenerateKey(s->h, &mech, templ, sizeof templ / sizeof templ[0], &h);
    if (rv == CKR_OK) *handle = h;
    return rv;
}

unsigned long custos_p11_generate_aes_key(custos_p11_session *s, const char *label, unsigned long *handle) {
    GUARDED(s, generate_aes_key(s, label, handle));
}

unsigned long custos_p11_destroy(custos_p11_session *s, unsigned long handle) {
    GUARDED(s, s->f->C_DestroyObject(s->h, handle));
}

static unsigned long gcm(custos_p11_session *s, int encrypt, unsigned long key, const uint8_t iv[12],
                         const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                         uint8_t *out, size_t *out_len) {
    CK_GCM_PARAMS params;
    memset(&params, 0, sizeof params);
    params.pIv = (CK_BYTE_PTR)iv;
    params.ulIvLen = 12;
    params.ulIvBits = 96;
    params.pAAD = (CK_BYTE_PTR)aad;
    params.ulAADLen = aad_len;
    params.ulTagBits = 128;
    CK_MECHANISM mech = { CKM_AES_GCM, &params, sizeof params };
    CK_ULONG n = *out_len;
    CK_RV rv;
    if (encrypt) {
        rv = s->f->C_EncryptInit(s->h, &mech, key);
        if (rv != CKR_OK) return rv;
        rv = s->f->C_Encrypt(s->h, (CK_BYTE_PTR)in, in_len, out, &n);
    } else {
        rv = s->f->C_DecryptInit(s->h, &mech, key);
        if (rv != CKR_OK) return rv;
        rv = s->f->C_Decrypt(s->h, (CK_BYTE_PTR)in, in_len, out, &n);
    }
    if (rv == CKR_OK) *out_len = n;
    return rv;
}

unsigned long custos_p11_gcm_encrypt(custos_p11_session *s, unsigned long key, const uint8_t iv[12],
                                     const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                                     uint8_t *out, size_t *out_len) {
    GUARDED(s, gcm(s, 1, key, iv, aad, aad_len, in, in_len, out, out_len));
}

unsigned long custos_p11_gcm_decrypt(custos_p11_session *s, unsigned long key, const uint8_t iv[12],
                                     const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                                     uint8_t *out, size_t *out_len) {
    GUARDED(s, gcm(s, 0, key, iv, aad, aad_len, in, in_len, out, out_len));
}

static unsigned long generate_key_pair(custos_p11_session *s, int kind, const uint8_t *params, size_t params_len,
                                       unsigned long modulus_bits, const char *label,
                                       unsigned long *public_handle, unsigned long *private_handle) {
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM mech = { 0, NULL, 0 };
    CK_ULONG bits = modulus_bits;
    CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
    CK_ATTRIBUTE pub[6];
    CK_ULONG npub = 0;
    pub[npub].type = CKA_TOKEN; pub[npub].pValue = &yes; pub[npub++].ulValueLen = sizeof yes;
    pub[npub].type = CKA_VERIFY; pub[npub].pValue = &yes; pub[npub++].ulValueLen = sizeof yes;
    pub[npub].type = CKA_LABEL; pub[npub].pValue = (void *)label; pub[npub++].ulValueLen = strlen(label);
    switch (kind) {
    case 1: mech.mechanism = CKM_EC_KEY_PAIR_GEN; break;
    case 2: mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN; break;
    case 3: mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN; break;
    default: return CKR_MECHANISM_INVALID;
    }
    if (kind == 3) {
        pub[npub].type = CKA_MODULUS_BITS; pub[npub].pValue = &bits; pub[npub++].ulValueLen = sizeof bits;
        pub[npub].type = CKA_PUBLIC_EXPONENT; pub[npub].pValue = exponent; pub[npub++].ulValueLen = sizeof exponent;
    } else {
        pub[npub].type = CKA_EC_PARAMS; pub[npub].pValue = (void *)params; pub[npub++].ulValueLen = params_len;
    }
    CK_ATTRIBUTE priv[] = {
        { CKA_TOKEN, &yes, sizeof yes }, { CKA_PRIVATE, &yes, sizeof yes },
        { CKA_SENSITIVE, &yes, sizeof yes }, { CKA_EXTRACTABLE, &no, sizeof no },
        { CKA_SIGN, &yes, sizeof yes }, { CKA_LABEL, (void *)label, strlen(label) },
    };
    CK_OBJECT_HANDLE hp, hk;
    CK_RV rv = s->f->C_GenerateKeyPair(s->h, &mech, pub, npub, priv, sizeof priv / sizeof priv[0], &hp, &hk);
    if (rv == CKR_OK) { *public_handle = hp; *private_handle = hk; }
    return rv;
}

unsigned long custos_p11_generate_key_pair(custos_p11_session *s, int kind, const uint8_t *params, size_t params_len,
                                           unsigned long modulus_bits, const char *label,
                                           unsigned long *public_handle, unsigned long *private_handle) {
    GUARDED(s, generate_key_pair(s, kind, params, params_len, modulus_bits, label, public_handle, private_handle));
}

static unsigned long get_attribute(custos_p11_session *s, unsigned long handle, unsigned long type,
                                   uint8_t *out, size_t *out_len) {
    CK_ATTRIBUTE a = { type, NULL, 0 };
    CK_RV rv = s->f->C_GetAttributeValue(s->h, handle, &a, 1);
    if (rv != CKR_OK) return rv;
    if (a.ulValueLen == (CK_ULONG)-1) return CKR_ATTRIBUTE_TYPE_INVALID;
    if (a.ulValueLen > *out_len) return CUSTOS_P11_BUFFER_TOO_SMALL;
    a.pValue = out;
    rv = s->f->C_GetAttributeValue(s->h, handle, &a, 1);
    if (rv == CKR_OK) *out_len = a.ulValueLen;
    return rv;
}

unsigned long custos_p11_get_attribute(custos_p11_session *s, unsigned long handle, unsigned long type,
                                       uint8_t *out, size_t *out_len) {
    GUARDED(s, get_attribute(s, handle, type, out, out_len));
}

static unsigned long sign(custos_p11_session *s, unsigned long key, unsigned long mechanism,
                          unsigned long pss_hash, unsigned long pss_mgf, unsigned long pss_salt,
                          const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len) {
    CK_RSA_PKCS_PSS_PARAMS pss;
    CK_MECHANISM mech = { mechanism, NULL, 0 };
    if (pss_hash) {
        pss.hashAlg = pss_hash;
        pss.mgf = pss_mgf;
        pss.sLen = pss_salt;
        mech.pParameter = &pss;
        mech.ulParameterLen = sizeof pss;
    }
    CK_RV rv = s->f->C_SignInit(s->h, &mech, key);
    if (rv != CKR_OK) return rv;
    CK_ULONG n = *out_len;
    rv = s->f->C_Sign(s->h, (CK_BYTE_PTR)in, in_len, out, &n);
    if (rv == CKR_OK) *out_len = n;
    return rv;
}

unsigned long custos_p11_sign(custos_p11_session *s, unsigned long key, unsigned long mechanism,
                              unsigned long pss_hash, unsigned long pss_mgf, unsigned long pss_salt,
                              const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len) {
    GUARDED(s, sign(s, key, mechanism, pss_hash, pss_mgf, pss_salt, in, in_len, out, out_len));
}
