/* beep_blob: the <blob> element of the BEEP SASL profiles (RFC 3080 sec.
 * 4.1): base64 SASL data and a status of continue, abort or complete.
 * Pure: libxml2 with the same safe options as channel 0, no sockets. */
#ifndef TUNNEL_BEEP_BLOB_H
#define TUNNEL_BEEP_BLOB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BEEP_BLOB_DOC_MAX   8192      /* fixed: a <blob> document */
#define BEEP_BLOB_DATA_MAX  4096      /* fixed: decoded SASL data */

enum beep_blob_status { BEEP_BLOB_CONTINUE, BEEP_BLOB_ABORT, BEEP_BLOB_COMPLETE };

struct beep_blob {
	enum beep_blob_status status;
	bool    has_data;                 /* content present (possibly empty) */
	uint8_t data[BEEP_BLOB_DATA_MAX];
	size_t  len;
};

/* Parses a <blob> document.  Returns 0, or -1 with a static reason
 * ("not well-formed XML", "invalid base64", ...) in *err. */
int beep_blob_parse(const uint8_t *xml, size_t len, struct beep_blob *out, const char **err);
/* Writes a <blob>; has_data false writes an empty element.  Returns the
 * length, or 0 when buf is too small. */
size_t beep_blob_write(enum beep_blob_status st, const uint8_t *data, size_t len,
                       bool has_data, char *buf, size_t cap);
#endif
