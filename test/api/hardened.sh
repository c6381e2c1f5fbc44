#!/bin/bash
# test/api/hardened under HUGESLAB_CONF=hardened:true, linked and
# preloaded, and without it (the mode must then be off).
set -u
build=${HS_BUILDDIR:-.}
HUGESLAB_CONF=hardened:true "$build/test/api/hardened" on || exit 1
HUGESLAB_CONF=hardened:true LD_PRELOAD=$HUGESLAB_LIB "$build/test/api/hardened-plain" on || exit 1
HUGESLAB_CONF= "$build/test/api/hardened"
