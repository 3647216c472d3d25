#include "tunnel/beep_blob.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth_sasl.h"

#define BLOB_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | \
                          XML_PARSE_NOBLANKS | XML_PARSE_NOCDATA)

int
beep_blob_parse(const uint8_t *xml, size_t len, struct beep_blob *out, const char **err)
{
	xmlDocPtr doc;
	xmlNodePtr root, n;
	xmlAttrPtr a;
	xmlChar *text = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > BEEP_BLOB_DOC_MAX) {
		*err = len == 0 ? "empty SASL message" : "SASL message too long";
		return -1;
	}
	doc = xmlReadMemory((const char *)xml, (int)len, NULL, NULL, BLOB_XML_OPTIONS);
	if (doc == NULL) {
		*err = "not well-formed XML";
		return -1;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		*err = "DOCTYPE not allowed";
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (root == NULL || root->ns != NULL || xmlStrcmp(root->name, BAD_CAST "blob") != 0) {
		*err = "expected a <blob> element";
		goto out;
	}
	for (a = root->properties; a != NULL; a = a->next) {
		xmlChar *v;

		if (a->ns != NULL || xmlStrcmp(a->name, BAD_CAST "status") != 0) {
			*err = "unknown attribute on <blob>";
			goto out;
		}
		v = xmlNodeGetContent((xmlNodePtr)a);
		if (v != NULL && xmlStrcmp(v, BAD_CAST "continue") == 0)
			out->status = BEEP_BLOB_CONTINUE;
		else if (v != NULL && xmlStrcmp(v, BAD_CAST "abort") == 0)
			out->status = BEEP_BLOB_ABORT;
		else if (v != NULL && xmlStrcmp(v, BAD_CAST "complete") == 0)
			out->status = BEEP_BLOB_COMPLETE;
		else {
			xmlFree(v);
			*err = "bad status on <blob>";
			goto out;
		}
		xmlFree(v);
	}
	for (n = root->children; n != NULL; n = n->next)
		if (n->type != XML_TEXT_NODE) {
			*err = "<blob> holds only base64 text";
			goto out;
		}
	text = xmlNodeGetContent(root);
	if (text != NULL && text[0] != '\0') {
		const char *derr = NULL;

		if (auth_sasl_b64_decode((const char *)text, (size_t)xmlStrlen(text), out->data,
		                         sizeof(out->data), &out->len, &derr) != 0) {
			*err = "invalid base64 in <blob>";
			goto out;
		}
		out->has_data = true;
	} else
		/* <blob></blob> or <blob/>: no data (distinct from absent blob) */
		out->has_data = root->children != NULL;
	rc = 0;
out:
	xmlFree(text);
	xmlFreeDoc(doc);
	return rc;
}

size_t
beep_blob_write(enum beep_blob_status st, const uint8_t *data, size_t len, bool has_data,
                char *buf, size_t cap)
{
	static const char *names[] = { "continue", "abort", "complete" };
	char b64[AUTH_SASL_B64_ENCODED_SIZE(BEEP_BLOB_DATA_MAX)];
	size_t blen = 0;
	int n;

	if (has_data && len > 0) {
		if (len > BEEP_BLOB_DATA_MAX ||
		    auth_sasl_b64_encode(data, len, b64, sizeof(b64), &blen) != 0)
			return 0;
	}
	b64[blen] = '\0';
	if (st == BEEP_BLOB_CONTINUE && !has_data)
		n = snprintf(buf, cap, "<blob/>");
	else if (st == BEEP_BLOB_CONTINUE)
		n = snprintf(buf, cap, "<blob>%s</blob>", b64);
	else if (blen == 0)
		n = snprintf(buf, cap, "<blob status='%s'/>", names[st]);
	else
		n = snprintf(buf, cap, "<blob status='%s'>%s</blob>", names[st], b64);
	return (n < 0 || (size_t)n >= cap) ? 0 : (size_t)n;
}
