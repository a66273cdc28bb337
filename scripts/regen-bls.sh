#!/bin/sh
# Regenerates BLS12381 FpCore.swift and the G1/G2 point cores from their sources in scripts/.
set -e
cd "$(dirname "$0")/.."
python3 scripts/gen_fp.py
{ echo '// Generated from scripts/G1Template.swift; shared with G2Core.swift.'; cat scripts/G1Template.swift; } > Sources/BLS12381/G1Core.swift
{ echo '// Generated from scripts/G1Template.swift (sed G1->G2, Fp->Fp2); edit the template, not this file.'; sed -e 's/G1/G2/g' -e 's/\bFp\b/Fp2/g' scripts/G1Template.swift; } > Sources/BLS12381/G2Core.swift
