/* engine_int.h: the engine's private state and the reader entry points shared by fhir.c and
 * input.c (internal to sg_measures). */
#ifndef SG_MEASURES_ENGINE_INT_H
#define SG_MEASURES_ENGINE_INT_H

#include <jansson.h>

#include "measures/measures.h"
#include "measures/valueset.h"

struct meas_engine {
    struct vs_index *vs; /* owned, read-only after load */
};

/* Adds one resource to the patient being built; `where` locates it for errors. */
int mx_add_resource(const struct meas_engine *eng, struct meas_patient *p, json_t *res,
                    const char *fullurl, const char *where, struct meas_error *e) SG_WUR;

/* Completes the patient after its last resource: checks there is a Patient and that every
 * subject reference names it, computes prevalence intervals, resolves references. */
int mx_finish(const struct meas_engine *eng, struct meas_patient *p, struct meas_error *e) SG_WUR;

#endif
