/* valueset.h: the value-set index of the measure engine.
 *
 * The five measures and their included libraries name 49 value sets and 14 direct codes. Each
 * gets one bit (enum vs_bit); the index maps a (system, code) pair to the 64-bit mask of every
 * value set / direct code that contains it, through an open-addressing hash table. The FHIR reader
 * looks every coding up once and stores the OR of the masks on the resource, so that a CQL
 * `[Condition: "Diabetes"]` retrieve or a `~ "Yes (qualifier value)"` test is one bit test.
 * Value sets are loaded from a directory of FHIR ValueSet JSON files (expansion.contains, or
 * compose.include.concept when there is no expansion, as CQL engines do with enumerated sets);
 * the canonical url names the set. Versions are ignored, as in CQL code equivalence. */
#ifndef SG_MEASURES_VALUESET_H
#define SG_MEASURES_VALUESET_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

enum vs_bit {
    VS_HOSPICE_ENCOUNTER,
    VS_OFFICE_VISIT,
    VS_ED_VISIT,
    VS_HOME_HEALTHCARE,
    VS_PREV_INITIAL,
    VS_PREV_ESTABLISHED,
    VS_TELEPHONE,
    VS_FRAILTY_ENCOUNTER,
    VS_VIRTUAL,
    VS_PALLIATIVE_ENCOUNTER,
    VS_DIABETES,
    VS_ESSENTIAL_HTN,
    VS_MALIGNANT_NEOPLASM_COLON,
    VS_MAMMOGRAPHY,
    VS_COLONOSCOPY,
    VS_CT_COLONOGRAPHY,
    VS_SDNA_FIT,
    VS_KIDNEY_TRANSPLANT,
    VS_DIALYSIS,
    VS_ESRD_MONTHLY,
    VS_KIDNEY_TRANSPLANT_RECIPIENT,
    VS_ADVANCED_ILLNESS,
    VS_FRAILTY_DIAGNOSIS,
    VS_FRAILTY_SYMPTOM,
    VS_RETINAL_EXAM,
    VS_HOSPICE_DIAGNOSIS,
    VS_PALLIATIVE_DIAGNOSIS,
    VS_FRAILTY_DEVICE,
    VS_DEMENTIA_MEDS,
    VS_BILATERAL_MASTECTOMY,
    VS_FLEX_SIGMOIDOSCOPY,
    VS_FOBT,
    VS_HBA1C,
    VS_TOTAL_COLECTOMY,
    VS_HISTORY_BILATERAL_MASTECTOMY,
    VS_STATUS_POST_LEFT_MASTECTOMY,
    VS_STATUS_POST_RIGHT_MASTECTOMY,
    VS_UNILATERAL_MASTECTOMY_UNSPEC,
    VS_UNILATERAL_MASTECTOMY_LEFT,
    VS_UNILATERAL_MASTECTOMY_RIGHT,
    VS_PALLIATIVE_INTERVENTION,
    VS_CKD_STAGE5,
    VS_ANNUAL_WELLNESS,
    VS_OPHTHALMOLOGICAL,
    VS_HOSPICE_CARE_AMBULATORY,
    VS_DIABETIC_RETINOPATHY,
    VS_ESRD,
    VS_PREGNANCY,
    VS_ENCOUNTER_INPATIENT,
    VS_NVALUESETS, /* bits below this come from ValueSet files; the rest are direct codes */
    CODE_GMI = VS_NVALUESETS,
    CODE_SYSTOLIC,
    CODE_DIASTOLIC,
    CODE_BP_PANEL,
    CODE_HOUSING_STATUS,
    CODE_LIVES_IN_NURSING_HOME,
    CODE_MEDICAL_EQUIPMENT_USED,
    CODE_HOSPICE_MDS,
    CODE_YES,
    CODE_DISCHARGE_HOME_HOSPICE,
    CODE_DISCHARGE_FACILITY_HOSPICE,
    CODE_FACIT_PAL,
    CODE_LEFT,
    CODE_RIGHT,
    VS_NBITS
};

typedef uint64_t vs_mask;
#define VS_BIT(b) ((vs_mask)1 << (b))

struct vs_index;

/* Loads every *.json ValueSet in dir and indexes the ones the measures need. Fails with SG_EIO
 * (directory or file unreadable), SG_EPARSE (not JSON / not a ValueSet, naming file and line) or
 * SG_ENOTFOUND (a needed value set is missing; err names it). *out is NULL on failure; free with
 * vs_index_free. */
int vs_index_load(const char *dir, struct vs_index **out, char *err, size_t errlen) SG_WUR;

/* Frees the index (NULL is fine). */
void vs_index_free(struct vs_index *ix);

/* Constant-time lookup: the mask of value sets / direct codes containing (system, code);
 * 0 when none. system and code are not NUL-terminated (lengths given). */
vs_mask vs_lookup(const struct vs_index *ix, const char *system, size_t syslen, const char *code,
                  size_t codelen);

/* Number of distinct (system, code) pairs indexed. */
size_t vs_index_size(const struct vs_index *ix);

/* The bit of a value set given its canonical url ("|version" ignored); -1 when the measures do
 * not use it. */
int vs_bit_of_url(const char *url);

/* Representative codes of value set `b`: among its codes, those that belong to the fewest other
 * value sets and direct codes (ideally none), sorted by system then code; up to max of them are
 * stored in keys[] as borrowed "system\x1fcode" strings (valid while ix lives). Returns the
 * number stored, or SG_ENOMEM. */
int vs_codes(const struct vs_index *ix, enum vs_bit b, const char **keys, size_t max) SG_WUR;

/* Canonical url ("http://cts.nlm.nih.gov/fhir/ValueSet/<oid>") or "system|code" of a bit. */
const char *vs_bit_name(enum vs_bit b);

#endif
