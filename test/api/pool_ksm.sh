#!/bin/bash
# test/api/pool's KSM case under HUGESLAB_CONF=pool_ksm:true: a sealed pool
# (and only a sealed one) is marked MADV_MERGEABLE; the default is checked
# by test/api/pool itself.
set -u
build=${HS_BUILDDIR:-.}
HUGESLAB_CONF=pool_ksm:true exec "$build/test/api/pool" ksm
