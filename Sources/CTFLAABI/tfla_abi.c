/* The C interface is implemented in Swift (Sources/TFLAABI); this file makes
 * the header a C module that the implementation imports, so that both sides
 * use the same struct layouts. */
#include "tfla.h"
