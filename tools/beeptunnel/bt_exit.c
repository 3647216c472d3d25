#include "bt_exit.h"

enum bt_exit
bt_exit_for_code(unsigned code)
{
	switch (code) {
	case 200:
		return BT_EXIT_OK;
	case 421:
		return BT_EXIT_BUSY;
	case 450:
		return BT_EXIT_UNREACHABLE;
	case 454:
	case 534:
	case 535:
		return BT_EXIT_AUTH;
	case 530:
		return BT_EXIT_AUTH_REQUIRED;
	case 537:
	case 554:
		return BT_EXIT_NOT_AUTHORIZED;
	case 550:
		return BT_EXIT_NEXT_HOP;
	case 500:
	case 501:
	case 504:
	case 553:
		return BT_EXIT_BAD_REQUEST;
	default:
		return BT_EXIT_OTHER;
	}
}

const char *
bt_exit_describe(enum bt_exit status)
{
	switch (status) {
	case BT_EXIT_OK:
		return "success";
	case BT_EXIT_LOCAL:
		return "local failure";
	case BT_EXIT_USAGE:
		return "usage error";
	case BT_EXIT_CONNECT:
		return "cannot connect to the relay";
	case BT_EXIT_NOT_BEEP:
		return "the relay does not speak BEEP or does not offer TUNNEL";
	case BT_EXIT_AUTH:
		return "authentication failed";
	case BT_EXIT_AUTH_REQUIRED:
		return "the relay requires authentication (use -u USER)";
	case BT_EXIT_NOT_AUTHORIZED:
		return "not authorized to reach this destination";
	case BT_EXIT_UNREACHABLE:
		return "destination unreachable";
	case BT_EXIT_NEXT_HOP:
		return "a further hop failed";
	case BT_EXIT_BAD_REQUEST:
		return "the relay rejected the request as malformed";
	case BT_EXIT_BUSY:
		return "the relay is busy or out of resources";
	case BT_EXIT_OTHER:
		return "the tunnel failed";
	}
	return "the tunnel failed";
}

const char *
bt_exit_table(void)
{
	return
	    "Exit status:\n"
	    "   0  the tunnel ran and ended normally\n"
	    "   1  local failure (memory, I/O error after the tunnel opened)\n"
	    "   2  usage error, unusable password file\n"
	    "   3  cannot connect to the relay\n"
	    "   4  relay is not a BEEP peer, offers no TUNNEL, or its TCPMUX door refused\n"
	    "   5  authentication failed (535, 534, 454)\n"
	    "   6  authentication required (530)\n"
	    "   7  not authorized (537, 554)\n"
	    "   8  destination unreachable (450)\n"
	    "   9  a further hop failed (550)\n"
	    "  10  request rejected as malformed (500, 501, 504, 553)\n"
	    "  11  relay busy or out of resources (421)\n"
	    "  12  any other failure or reply code, timeout\n";
}
