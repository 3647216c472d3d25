/* Fuzz target: one channel-0 document through beep_xml_parse; whatever
 * parses is written back and must parse again to the same kind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/beep_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct beep_xml_doc d, d2;
	struct beep_xml_error e;
	uint8_t *out;
	size_t outlen;

	if (beep_xml_parse(data, size, &d, &e) != 0) {
		if (e.code < 100 || e.code > 599 || memchr(e.text, '\0', sizeof(e.text)) == NULL)
			abort();
		return 0;
	}
	if (beep_xml_write(&d, &out, &outlen) == 0) {
		if (beep_xml_parse(out, outlen, &d2, &e) != 0 || d2.kind != d.kind ||
		    d2.nprofiles != d.nprofiles)
			abort();
		beep_xml_doc_clear(&d2);
		free(out);
	}
	beep_xml_doc_clear(&d);
	return 0;
}
