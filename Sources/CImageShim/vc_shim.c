#include "vc_shim.h"
