/* table.h: CMS's published "Star Ratings Data Table" CSVs as records, turned into engine inputs.
 *
 * Pure: the caller reads the files (core/csv.h) and feeds each record here with its file kind,
 * record number and line; this module knows the layouts (4 header rows in the measure files,
 * the Summary and CAI headers, the Part C / Part D cut-point grids), maps measure columns to the
 * year's parameters by name (never by Cxx), parses percent signs and status texts, and keeps one
 * entry per contract. Layout problems are reported with file, line and column. */
#ifndef SG_STARS_TABLE_H
#define SG_STARS_TABLE_H

#include <stddef.h>

#include "stars/stars.h"

enum stars_file_kind {
    STARS_FILE_MEASURE_STARS,
    STARS_FILE_MEASURE_DATA,
    STARS_FILE_SUMMARY,
    STARS_FILE_CAI,
    STARS_FILE_CUT_C,
    STARS_FILE_CUT_D,
    STARS_FILE_NOTES,
    STARS_NFILE
};

#define STARS_TABLE_MAX_CONTRACTS 100000
#define STARS_TABLE_MAX_COLS 256

/* One contract as published. */
struct stars_table_contract {
    char id[16];            /* contract number, e.g. "H0028" */
    char org_type[80];      /* CMS organization type, e.g. "Local CCP" */
    int snp;                /* SNP column says Yes */
    double disaster[2];     /* the two disaster-% columns of the Summary file (NAN if absent) */
    char published[3][48];  /* Part C, Part D, Overall cells of the Summary file, trimmed */
    int pr_only;            /* CAI file: Puerto Rico Only = Yes */
    int fac[STARS_NRATING]; /* CAI file FACs; 0 = N/A */
    int star[STARS_MAX_MEASURES];      /* published measure star, 0 = none */
    int has_score[STARS_MAX_MEASURES]; /* Measure Data cell is a number */
    double score[STARS_MAX_MEASURES];
    int data_issue[STARS_MAX_MEASURES];   /* "CMS identified issues" in either file */
    int not_required[STARS_MAX_MEASURES]; /* Measure Stars says "... not required to report ..." */
    int in_summary;                       /* row present in the Summary file */
};

struct stars_table {
    const struct stars_params *p;   /* borrowed; must outlive the table */
    struct stars_table_contract *c; /* owned array */
    size_t n, cap;
    struct stars_cut cuts[2 * STARS_MAX_MEASURES]; /* published: [2i] MA / MA-PD, [2i+1] PDP */
    int have[STARS_NFILE];                         /* records of that kind were fed */
    int recalculated;           /* the Notes file says ratings were recalculated */
    char disaster_label[2][48]; /* headers of the two disaster columns */
    /* layout state while feeding */
    int col_measure[STARS_NFILE][STARS_TABLE_MAX_COLS]; /* column -> measure index, -1 */
    int col_sum[8];                                     /* Summary/CAI column positions */
    int col_cai[8];
    int header_ok[STARS_NFILE];
};

/* Initializes an empty table for the year parameters p (borrowed). */
void stars_table_init(struct stars_table *t, const struct stars_params *p);

/* Frees the contracts; the table may be initialized again. */
void stars_table_fini(struct stars_table *t);

/* Feeds record `rec` (1-based within its file) of kind `kind`, with fields f[0..nf) (UTF-8).
 * `file` and `line` name the record in error messages. Returns SG_OK, or SG_EPARSE (unknown
 * layout, a measure column not in the year's parameters, an unparseable band or FAC),
 * SG_ETOOBIG or SG_ENOMEM with "file:line: column N: ..." in err. */
int stars_table_feed(struct stars_table *t, enum stars_file_kind kind, long rec, long line,
                     const char *const *f, size_t nf, const char *file, char *err,
                     size_t errlen) SG_WUR;

/* Checks after all files were fed: the measure-stars, summary and CAI files were seen and every
 * measure of the year had a column. Returns SG_OK or SG_EPARSE naming what is missing. */
int stars_table_check(const struct stars_table *t, char *err, size_t errlen) SG_WUR;

/* Contract class from CMS's organization type and SNP flag (PDP, 1876 Cost, MSA, PFFS, else
 * CCP with or without SNP; CMS does not publish which contracts are I-SNP-only). */
enum stars_class stars_table_class(const struct stars_table_contract *c);

/* True when the contract offers Part D (a PDP, or an MA contract whose published Part D cell is
 * not "Not Applicable"). */
int stars_table_offers_part_d(const struct stars_table_contract *c);

/* Builds the stars_rate() input for contract c: published stars when use_stars, scores (and the
 * data-issue flags) when use_scores; disaster_pct = the later disaster column (the measurement
 * year), disaster_pct_prior = the earlier one (HOS measures are adjusted for that year). */
void stars_table_input(const struct stars_table *t, const struct stars_table_contract *c,
                       int use_stars, int use_scores, struct stars_contract_input *in);

/* CMS does not publish which SNP contracts are I-SNP-only (they need fewer rated measures): no
 * column of the Summary, CAI, Measure Stars/Data, Domain Stars, Disenrollment Reasons or Notes
 * files says so. For an SNP contract whose published Part C, Part D or overall rating is a number
 * while the CCP-with-SNP minimum is not met, and the I-SNP-only minimum is, sets in->cls to
 * STARS_CLASS_ISNP and returns 1; otherwise leaves `in` alone and returns 0. This infers an input
 * (the contract class) from CMS's published rating status - an answer - so only `stars compare`
 * uses it, and reports each use as an assumption; `stars rate` never does (docs/STARS.md). */
int stars_table_infer_isnp(const struct stars_table *t, const struct stars_table_contract *c,
                           struct stars_contract_input *in);

/* Parses a published rating cell ("4.5", "3") into *out; 0 when it is a status text. */
int stars_table_rating(const char *cell, double *out);

#endif
