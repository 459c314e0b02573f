/* valueset.c: loading FHIR ValueSet files into the constant-time (system, code) -> mask index
 * described in valueset.h. The hash table is open addressing with linear probing, FNV-1a keys,
 * load factor <= 1/2; it is built once at start-up and read-only afterwards (thread-safe). */
#include "measures/valueset.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"

#define VS_PREFIX "http://cts.nlm.nih.gov/fhir/ValueSet/"
#define VS_FILE_MAX (64u << 20)

static const char *const vs_oids[VS_NVALUESETS] = {
    VS_PREFIX "2.16.840.1.113883.3.464.1003.1003",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.101.12.1001",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.101.12.1010",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.101.12.1016",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.101.12.1023",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.101.12.1025",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.101.12.1080",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.101.12.1088",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.101.12.1089",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.101.12.1090",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.103.12.1001",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.104.12.1011",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.108.12.1001",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.108.12.1018",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.108.12.1020",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.108.12.1038",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.108.12.1039",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.109.12.1012",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.109.12.1013",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.109.12.1014",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.109.12.1029",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.110.12.1082",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.113.12.1074",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.113.12.1075",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.115.12.1088",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.1165",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.1167",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.118.12.1300",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.196.12.1510",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1005",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1010",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1011",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1013",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1019",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1068",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1069",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1070",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1071",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1133",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1134",
    VS_PREFIX "2.16.840.1.113883.3.464.1003.198.12.1135",
    VS_PREFIX "2.16.840.1.113883.3.526.3.1002",
    VS_PREFIX "2.16.840.1.113883.3.526.3.1240",
    VS_PREFIX "2.16.840.1.113883.3.526.3.1285",
    VS_PREFIX "2.16.840.1.113883.3.526.3.1584",
    VS_PREFIX "2.16.840.1.113883.3.526.3.327",
    VS_PREFIX "2.16.840.1.113883.3.526.3.353",
    VS_PREFIX "2.16.840.1.113883.3.526.3.378",
    VS_PREFIX "2.16.840.1.113883.3.666.5.307",
};

/* Direct codes declared with `code "..."` in the CQL (system, code), in enum order. */
static const char *const direct_codes[VS_NBITS - VS_NVALUESETS][3] = {
    {"http://loinc.org", "97506-0", "http://loinc.org|97506-0"}, /* Glucose management indicator */
    {"http://loinc.org", "8480-6", "http://loinc.org|8480-6"},   /* Systolic blood pressure */
    {"http://loinc.org", "8462-4", "http://loinc.org|8462-4"},   /* Diastolic blood pressure */
    {"http://loinc.org", "85354-9",
     "http://loinc.org|85354-9"}, /* Blood pressure panel: fixed code of observation-bp */
    {"http://loinc.org", "71802-3", "http://loinc.org|71802-3"}, /* Housing status */
    {"http://snomed.info/sct", "160734000",
     "http://snomed.info/sct|160734000"}, /* Lives in a nursing home (finding) */
    {"http://loinc.org", "98181-1", "http://loinc.org|98181-1"}, /* Medical equipment used */
    {"http://loinc.org", "45755-6",
     "http://loinc.org|45755-6"}, /* Hospice care [Minimum Data Set] */
    {"http://snomed.info/sct", "373066001",
     "http://snomed.info/sct|373066001"}, /* Yes (qualifier value) */
    {"http://snomed.info/sct", "428361000124107",
     "http://snomed.info/sct|428361000124107"}, /* Discharge to home for hospice care */
    {"http://snomed.info/sct", "428371000124100",
     "http://snomed.info/sct|428371000124100"}, /* Discharge to healthcare facility for hospice */
    {"http://loinc.org", "71007-9", "http://loinc.org|71007-9"}, /* FACIT-Pal */
    {"http://snomed.info/sct", "7771000",
     "http://snomed.info/sct|7771000"}, /* Left (qualifier value) */
    {"http://snomed.info/sct", "24028007",
     "http://snomed.info/sct|24028007"}, /* Right (qualifier value) */
};

_Static_assert(VS_NBITS <= 64, "value-set bits must fit in vs_mask");

struct vs_slot {
    char *key; /* "system\x1fcode", owned; NULL = empty */
    size_t keylen;
    uint64_t hash;
    vs_mask mask;
};

struct vs_index {
    struct vs_slot *slots;
    size_t cap, n; /* cap is a power of two */
};

const char *vs_bit_name(enum vs_bit b)
{
    if ((int)b < 0 || b >= VS_NBITS) return "?";
    return b < VS_NVALUESETS ? vs_oids[b] : direct_codes[b - VS_NVALUESETS][2];
}

static uint64_t fnv(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t key_hash(const char *sys, size_t sl, const char *code, size_t cl)
{
    uint64_t h = fnv(sys, sl, 14695981039346656037ULL);
    h = fnv("\x1f", 1, h);
    return fnv(code, cl, h);
}

static int grow(struct vs_index *ix)
{
    size_t ncap = ix->cap ? ix->cap * 2 : 1024;
    struct vs_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) return SG_ENOMEM;
    for (size_t i = 0; i < ix->cap; i++) {
        if (!ix->slots[i].key) continue;
        size_t j = ix->slots[i].hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = ix->slots[i];
    }
    free(ix->slots);
    ix->slots = ns;
    ix->cap = ncap;
    return SG_OK;
}

static int add_code(struct vs_index *ix, const char *sys, const char *code, enum vs_bit bit)
{
    size_t sl = strlen(sys), cl = strlen(code);
    if ((ix->n + 1) * 2 > ix->cap && grow(ix) != SG_OK) return SG_ENOMEM;
    uint64_t h = key_hash(sys, sl, code, cl);
    size_t j = h & (ix->cap - 1);
    size_t kl = sl + 1 + cl;
    while (ix->slots[j].key) {
        struct vs_slot *s = &ix->slots[j];
        if (s->hash == h && s->keylen == kl && !memcmp(s->key, sys, sl) &&
            !memcmp(s->key + sl + 1, code, cl)) {
            s->mask |= VS_BIT(bit);
            return SG_OK;
        }
        j = (j + 1) & (ix->cap - 1);
    }
    char *k = malloc(kl + 1);
    if (!k) return SG_ENOMEM;
    memcpy(k, sys, sl);
    k[sl] = '\x1f';
    memcpy(k + sl + 1, code, cl);
    k[kl] = '\0';
    ix->slots[j] = (struct vs_slot){k, kl, h, VS_BIT(bit)};
    ix->n++;
    return SG_OK;
}

vs_mask vs_lookup(const struct vs_index *ix, const char *sys, size_t sl, const char *code,
                  size_t cl)
{
    if (!ix->cap) return 0;
    uint64_t h = key_hash(sys, sl, code, cl);
    size_t kl = sl + 1 + cl;
    for (size_t j = h & (ix->cap - 1);; j = (j + 1) & (ix->cap - 1)) {
        const struct vs_slot *s = &ix->slots[j];
        if (!s->key) return 0;
        if (s->hash == h && s->keylen == kl && !memcmp(s->key, sys, sl) &&
            !memcmp(s->key + sl + 1, code, cl))
            return s->mask;
    }
}

size_t vs_index_size(const struct vs_index *ix)
{
    return ix ? ix->n : 0;
}

void vs_index_free(struct vs_index *ix)
{
    if (!ix) return;
    for (size_t i = 0; i < ix->cap; i++)
        free(ix->slots[i].key);
    free(ix->slots);
    free(ix);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int vs_codes(const struct vs_index *ix, enum vs_bit b, const char **keys, size_t max)
{
    int best = 65;
    size_t nbest = 0;
    for (size_t i = 0; i < ix->cap; i++) {
        const struct vs_slot *s = &ix->slots[i];
        if (!s->key || !(s->mask & VS_BIT(b))) continue;
        int pc = __builtin_popcountll(s->mask);
        if (pc < best) {
            best = pc;
            nbest = 0;
        }
        if (pc == best) nbest++;
    }
    if (!nbest || !max) return 0;
    const char **all = malloc(nbest * sizeof *all);
    if (!all) return SG_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < ix->cap; i++) {
        const struct vs_slot *s = &ix->slots[i];
        if (s->key && (s->mask & VS_BIT(b)) && __builtin_popcountll(s->mask) == best)
            all[n++] = s->key;
    }
    qsort(all, n, sizeof *all, key_cmp);
    if (n > max) n = max;
    memcpy(keys, all, n * sizeof *keys);
    free(all);
    return (int)n;
}

/* expansion.contains may nest (contains[].contains). */
static int add_contains(struct vs_index *ix, json_t *arr, enum vs_bit bit, size_t *count)
{
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        const char *sys = json_string_value(json_object_get(c, "system"));
        const char *code = json_string_value(json_object_get(c, "code"));
        if (sys && code) {
            if (add_code(ix, sys, code, bit) != SG_OK) return SG_ENOMEM;
            (*count)++;
        }
        json_t *sub = json_object_get(c, "contains");
        if (json_is_array(sub) && add_contains(ix, sub, bit, count) != SG_OK) return SG_ENOMEM;
    }
    return SG_OK;
}

int vs_bit_of_url(const char *url)
{
    size_t ul = strcspn(url, "|"); /* canonical|version */
    for (int b = 0; b < VS_NVALUESETS; b++)
        if (strlen(vs_oids[b]) == ul && !strncmp(vs_oids[b], url, ul)) return b;
    return -1;
}

static int load_file(struct vs_index *ix, const char *path, int *seen, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = sg_read_file(path, VS_FILE_MAX, &text, &len, err, errlen);
    if (rc != SG_OK) return rc;
    json_error_t je;
    json_t *vs = json_loadb(text, len, 0, &je);
    free(text);
    if (!vs) return sg_errf(err, errlen, SG_EPARSE, "%s:%d: %s", path, je.line, je.text);
    rc = SG_OK;
    const char *rt = json_string_value(json_object_get(vs, "resourceType"));
    const char *url = json_string_value(json_object_get(vs, "url"));
    if (!rt || strcmp(rt, "ValueSet")) {
        rc = sg_errf(err, errlen, SG_EPARSE, "%s: resourceType is not ValueSet", path);
        goto out;
    }
    if (!url) {
        rc = sg_errf(err, errlen, SG_EPARSE, "%s: ValueSet has no url", path);
        goto out;
    }
    int bit = vs_bit_of_url(url);
    if (bit < 0) goto out; /* not used by these measures */
    size_t count = 0;
    json_t *contains = json_object_get(json_object_get(vs, "expansion"), "contains");
    if (json_is_array(contains)) {
        if (add_contains(ix, contains, (enum vs_bit)bit, &count) != SG_OK) {
            rc = SG_ENOMEM;
            goto out;
        }
    } else {
        size_t i, k;
        json_t *inc, *c;
        json_array_foreach(json_object_get(json_object_get(vs, "compose"), "include"), i, inc)
        {
            const char *sys = json_string_value(json_object_get(inc, "system"));
            if (!sys) continue;
            json_array_foreach(json_object_get(inc, "concept"), k, c)
            {
                const char *code = json_string_value(json_object_get(c, "code"));
                if (!code) continue;
                if (add_code(ix, sys, code, (enum vs_bit)bit) != SG_OK) {
                    rc = SG_ENOMEM;
                    goto out;
                }
                count++;
            }
        }
    }
    if (count == 0) {
        rc = sg_errf(err, errlen, SG_EPARSE,
                     "%s: ValueSet %s has neither an expansion nor enumerated codes", path, url);
        goto out;
    }
    seen[bit] = 1;
out:
    json_decref(vs);
    return rc;
}

int vs_index_load(const char *dir, struct vs_index **out, char *err, size_t errlen)
{
    *out = NULL;
    int seen[VS_NVALUESETS] = {0};
    int rc = SG_OK;
    struct vs_index *ix = calloc(1, sizeof *ix);
    if (!ix) return SG_ENOMEM;
    DIR *d = opendir(dir);
    if (!d) {
        rc = sg_errf(err, errlen, SG_EIO, "cannot open value-set directory %s", dir);
        goto fail;
    }
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl < 6 || strcmp(de->d_name + nl - 5, ".json")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        rc = load_file(ix, path, seen, err, errlen);
        if (rc != SG_OK) break;
    }
    closedir(d);
    if (rc != SG_OK) goto fail;
    for (int b = 0; b < VS_NVALUESETS; b++)
        if (!seen[b]) {
            rc =
                sg_errf(err, errlen, SG_ENOTFOUND, "value set %s not found in %s", vs_oids[b], dir);
            goto fail;
        }
    for (int b = VS_NVALUESETS; b < VS_NBITS; b++)
        if ((rc = add_code(ix, direct_codes[b - VS_NVALUESETS][0],
                           direct_codes[b - VS_NVALUESETS][1], (enum vs_bit)b)) != SG_OK)
            goto fail;
    *out = ix;
    return SG_OK;
fail:
    vs_index_free(ix);
    return rc;
}
