// zlib, for CRC-32 (the checksum in .qkv files) and, later, deflate.
#include <zlib.h>
