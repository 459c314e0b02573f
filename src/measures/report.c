/* report.c: FHIR output of the engine: the individual and summary MeasureReports (DEQM
 * individual / summary shapes) and the DEQM gaps-in-care document Bundle, built with jansson.
 * Gap status follows the measure's improvement notation: for a positive measure a numerator
 * member has a closed gap; for CMS122 (numerator = poor control) a numerator member has an open
 * gap. Members outside the denominator or excluded are not applicable and get no section. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"
#include "measures/measures.h"

#define POP_SYSTEM "http://terminology.hl7.org/CodeSystem/measure-population"
#define DEQM_SD "http://hl7.org/fhir/uv/deqm/StructureDefinition/"

static json_t *coding1(const char *system, const char *code, const char *display)
{
    json_t *c = json_pack("{s:s, s:s}", "system", system, "code", code);
    if (c && display) json_object_set_new(c, "display", json_string(display));
    return json_pack("{s:[o]}", "coding", c);
}

static json_t *population(const char *code, const char *display, long count)
{
    return json_pack("{s:o, s:I}", "code", coding1(POP_SYSTEM, code, display), "count",
                     (json_int_t)count);
}

static void now_iso(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Common MeasureReport skeleton; group holds the populations and score. */
static json_t *report(enum meas_id id, const struct meas_period *period, const char *type,
                      const char *profile, long ip, long den, long denex, long num)
{
    const struct meas_info *mi = meas_info(id);
    char uuid[SG_UUID_LEN], date[32];
    if (!mi || sg_uuid_v4(uuid) != SG_OK) return NULL;
    now_iso(date);
    json_t *pops = json_pack("[oooo]", population("initial-population", "Initial Population", ip),
                             population("denominator", "Denominator", den),
                             population("denominator-exclusion", "Denominator Exclusion", denex),
                             population("numerator", "Numerator", num));
    json_t *group = json_pack("{s:s, s:o}", "id", mi->cms, "population", pops);
    if (!group) return NULL;
    long eligible = den - denex;
    if (eligible > 0)
        json_object_set_new(group, "measureScore",
                            json_pack("{s:f}", "value", (double)num / (double)eligible));
    json_t *scoring =
        json_pack("{s:s, s:o}", "url", DEQM_SD "deqm-measureScoring", "valueCodeableConcept",
                  coding1("http://terminology.hl7.org/CodeSystem/measure-scoring", "proportion",
                          "Proportion"));
    return json_pack("{s:s, s:s, s:{s:[s]}, s:[o], s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o, s:[o]}",
                     "resourceType", "MeasureReport", "id", uuid, "meta", "profile", profile,
                     "extension", scoring, "status", "complete", "type", type, "measure", mi->url,
                     "date", date, "period", "start", period->start, "end", period->end,
                     "improvementNotation",
                     coding1("http://terminology.hl7.org/CodeSystem/measure-improvement-notation",
                             mi->inverse ? "decrease" : "increase",
                             mi->inverse ? "Decreased score indicates improvement"
                                         : "Increased score indicates improvement"),
                     "group", group);
}

json_t *meas_report_individual(const struct meas_patient *p, enum meas_id id,
                               const struct meas_period *period, const struct meas_pops *pops)
{
    json_t *r = report(id, period, "individual", DEQM_SD "deqm-individualmeasurereport",
                       pops->initial_population, pops->denominator, pops->denominator_exclusion,
                       pops->numerator);
    if (!r) return NULL;
    char ref[300];
    snprintf(ref, sizeof ref, "Patient/%s", meas_patient_id(p));
    if (json_object_set_new(r, "subject", json_pack("{s:s}", "reference", ref))) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *meas_report_summary(enum meas_id id, const struct meas_period *period,
                            const struct meas_totals *t)
{
    return report(id, period, "summary", DEQM_SD "deqm-summarymeasurereport", t->initial_population,
                  t->denominator, t->denominator_exclusion, t->numerator);
}

json_t *meas_gaps_bundle(const struct meas_patient *p, const enum meas_id *ids,
                         const struct meas_pops *pops, size_t n, const struct meas_period *period)
{
    char uuid[SG_UUID_LEN], date[32], pref[300], title[400];
    if (sg_uuid_v4(uuid) != SG_OK) return NULL;
    now_iso(date);
    snprintf(pref, sizeof pref, "Patient/%s", meas_patient_id(p));
    snprintf(title, sizeof title, "Care Gap Report for patient %s", meas_patient_id(p));
    json_t *entries = json_array(), *sections = json_array();
    json_t *comp = json_pack("{s:s, s:s, s:{s:[s]}, s:s, s:o, s:{s:s}, s:s, s:[{s:s}], s:s, s:o}",
                             "resourceType", "Composition", "id", uuid, "meta", "profile",
                             DEQM_SD "deqm-gapsincarecomposition", "status", "final", "type",
                             coding1("http://loinc.org", "96315-7", "Gaps in care report"),
                             "subject", "reference", pref, "date", date, "author", "display",
                             "stargap", "title", title, "section", sections);
    json_t *b = json_pack("{s:s, s:s, s:{s:[s]}, s:{s:s, s:s}, s:s, s:s, s:o}", "resourceType",
                          "Bundle", "id", uuid, "meta", "profile", DEQM_SD "deqm-gapsincarebundle",
                          "identifier", "system", "urn:ietf:rfc:3986", "value", "", "type",
                          "document", "timestamp", date, "entry", entries);
    if (!b || !comp) {
        json_decref(b);
        json_decref(comp);
        return NULL;
    }
    char urn[64];
    snprintf(urn, sizeof urn, "urn:uuid:%s", uuid);
    json_object_set_new(json_object_get(b, "identifier"), "value", json_string(urn));
    int ok =
        !json_array_append_new(entries, json_pack("{s:s, s:o}", "fullUrl", urn, "resource", comp));
    json_t *pat = json_pack("{s:s, s:s}", "resourceType", "Patient", "id", meas_patient_id(p));
    char purl[320];
    snprintf(purl, sizeof purl, "Patient/%s", meas_patient_id(p));
    ok = ok &&
         !json_array_append_new(entries, json_pack("{s:s, s:o}", "fullUrl", purl, "resource", pat));
    for (size_t i = 0; i < n && ok; i++) {
        const struct meas_info *mi = meas_info(ids[i]);
        if (!mi || !pops[i].denominator || pops[i].denominator_exclusion)
            continue; /* not applicable */
        int closed = mi->inverse ? !pops[i].numerator : pops[i].numerator;
        json_t *mr = meas_report_individual(p, ids[i], period, &pops[i]);
        char diu[SG_UUID_LEN], mref[80], dref[80], murn[64], durn[64];
        if (!mr || sg_uuid_v4(diu) != SG_OK) {
            json_decref(mr);
            ok = 0;
            break;
        }
        const char *mid = json_string_value(json_object_get(mr, "id"));
        snprintf(mref, sizeof mref, "MeasureReport/%s", mid);
        snprintf(dref, sizeof dref, "DetectedIssue/%s", diu);
        snprintf(murn, sizeof murn, "urn:uuid:%s", mid);
        snprintf(durn, sizeof durn, "urn:uuid:%s", diu);
        json_t *status = json_pack(
            "{s:s, s:o}", "url", DEQM_SD "deqm-gapStatus", "valueCodeableConcept",
            coding1("http://hl7.org/fhir/uv/deqm/CodeSystem/deqm-gaps-status",
                    closed ? "closed-gap" : "open-gap", closed ? "Closed Gap" : "Open Gap"));
        json_t *di = json_pack(
            "{s:s, s:s, s:{s:[s]}, s:[o], s:s, s:o, s:{s:s}, s:[{s:[{s:s}]}]}", "resourceType",
            "DetectedIssue", "id", diu, "meta", "profile", DEQM_SD "deqm-gapsincaredetectedissue",
            "modifierExtension", status, "status", "final", "code",
            coding1("http://terminology.hl7.org/CodeSystem/v3-ActCode", "CAREGAP", "Care Gaps"),
            "patient", "reference", pref, "evidence", "detail", "reference", mref);
        json_t *sec = json_pack("{s:s, s:{s:s}, s:[{s:s}]}", "title", mi->title, "focus",
                                "reference", mref, "entry", "reference", dref);
        if (!di || !sec) {
            json_decref(di);
            json_decref(sec);
            json_decref(mr);
            ok = 0;
            break;
        }
        /* json_pack "o" and json_array_append_new steal their argument, also on failure */
        json_t *me = json_pack("{s:s, s:o}", "fullUrl", murn, "resource", mr);
        json_t *de = json_pack("{s:s, s:o}", "fullUrl", durn, "resource", di);
        int a1 = json_array_append_new(sections, sec);
        int a2 = json_array_append_new(entries, me);
        int a3 = json_array_append_new(entries, de);
        ok = !a1 && !a2 && !a3;
    }
    if (!ok) {
        json_decref(b);
        return NULL;
    }
    return b;
}

json_t *meas_gaps_parameters(json_t **bundles, size_t n)
{
    json_t *params = json_array();
    json_t *out = json_pack("{s:s, s:o}", "resourceType", "Parameters", "parameter", params);
    int ok = out != NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *p = ok ? json_pack("{s:s, s:o}", "name", "return", "resource", bundles[i])
                       : (json_decref(bundles[i]), NULL);
        if (ok && json_array_append_new(params, p)) ok = 0;
    }
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}
