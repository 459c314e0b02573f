/* store_test_ok.h: the store tests' OK(call) assertion, shared by the contract suite and the
 * SQLite bulk-write tests. It needs a fixture pointer `f` with an `err` buffer in scope: the
 * store's message is printed with the call when the call does not return SG_OK. */
#ifndef SG_TESTS_STORE_TEST_OK_H
#define SG_TESTS_STORE_TEST_OK_H

#include <stdio.h>

#define OK(call)                                                                               \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != SG_OK) fprintf(stderr, "%s:%d: %s -> %d: %s\n", __FILE__, __LINE__, #call,  \
                                  rc_, f->err);                                                \
        assert_int_equal(rc_, SG_OK);                                                          \
    } while (0)

#endif
