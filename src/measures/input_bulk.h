/* input_bulk.h: tuning of the Bulk FHIR export reader of meas_input (input.c).
 *
 * A Bulk export directory is grouped by patient in two passes: every resource and Patient line
 * is spilled, with its file and line number, into one of P temporary files chosen by a hash of
 * its patient reference, P = ceil(1.25 x input bytes / budget); then each partition is read
 * whole and its patients are emitted. Memory is about one partition (the budget), or the largest
 * single patient when that is larger, whatever the size of the export. Kept apart from
 * measures.h so the setting can be wired without touching the engine's API. */
#ifndef SG_MEASURES_INPUT_BULK_H
#define SG_MEASURES_INPUT_BULK_H

#include <stddef.h>

struct meas_input;

/* Default partition budget in bytes (the config setting bulk_partition_bytes). */
#define MEAS_BULK_BUDGET ((size_t)16 << 20)

/* Sets the memory budget of one partition for the Bulk exports of in that are not opened yet
 * (a Bulk export is opened at its first meas_input_next). 0 = MEAS_BULK_BUDGET. Cannot fail. */
void meas_input_set_bulk_budget(struct meas_input *in, size_t bytes);

/* The number of partitions of the Bulk export read last (0 when none was opened). */
size_t meas_input_bulk_partitions(const struct meas_input *in);

#endif
