/* err.c: names and formatting for the sg_err codes (see err.h). */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *sg_strerror(int code)
{
    switch (code) {
    case SG_OK: return "success";
    case SG_EINVAL: return "invalid argument";
    case SG_ENOMEM: return "out of memory";
    case SG_EIO: return "input/output error";
    case SG_ENOTFOUND: return "not found";
    case SG_ECONFLICT: return "conflict";
    case SG_ETRANSITION: return "invalid status transition";
    case SG_EDB: return "database error";
    case SG_ERANGE: return "value out of range";
    case SG_EPARSE: return "malformed input";
    case SG_ETOOBIG: return "size limit exceeded";
    case SG_EUNSUPPORTED: return "not supported";
    case SG_EINTERNAL: return "internal error";
    case SG_EAUTH: return "authentication required";
    case SG_EFORBIDDEN: return "forbidden";
    case SG_EBUSY: return "resource busy";
    case SG_ECHANGED: return "checksum mismatch";
    default: return "unknown error";
    }
}

const char *sg_errcode_name(int code)
{
    switch (code) {
    case SG_OK: return "ok";
    case SG_EINVAL: return "invalid_input";
    case SG_ENOMEM: return "out_of_memory";
    case SG_EIO: return "io_error";
    case SG_ENOTFOUND: return "not_found";
    case SG_ECONFLICT: return "conflict";
    case SG_ETRANSITION: return "invalid_transition";
    case SG_EDB: return "database_error";
    case SG_ERANGE: return "out_of_range";
    case SG_EPARSE: return "malformed_input";
    case SG_ETOOBIG: return "too_large";
    case SG_EUNSUPPORTED: return "unsupported";
    case SG_EINTERNAL: return "internal_error";
    case SG_EAUTH: return "unauthorized";
    case SG_EFORBIDDEN: return "forbidden";
    case SG_EBUSY: return "busy";
    case SG_ECHANGED: return "checksum_mismatch";
    default: return "unknown_error";
    }
}

int sg_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
