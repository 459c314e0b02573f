#!/bin/sh
# check_errors.sh STARGAP DATA_DIR: bad input gets a message naming file, line and column, and
# the exit code 1 (never a crash or a silent result); `rate` prints CMS's published ratings for
# contracts read off the published Summary file.
set -u
bin=$1 data=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() { # expect NAME EXIT_CODE NEEDLE -- command...
    name=$1 code=$2 needle=$3; shift 4
    "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    if [ $rc -ne "$code" ] || ! grep -qF -- "$needle" "$tmp/err" "$tmp/out"; then
        echo "FAIL $name: exit $rc"; cat "$tmp/err"; fail=1
    else
        echo "ok   $name"
    fi
}
src="$data/cms/2025"
expect missing-dir 1 "/nonexistent: cannot open directory" -- "$bin" stars rate --star-year 2025 --data-table /nonexistent
expect usage 2 "--star-year is required" -- "$bin" stars rate --data-table "$src"
expect no-params 1 "year parameters for 2019" -- "$bin" stars rate --star-year 2019 --data-table "$src"
mkdir "$tmp/t1" && cp "$src"/*.csv "$tmp/t1/"
f="$tmp/t1/2025 Star Ratings Data Table - Measure Stars (Dec 2 2024).csv"
sed -i '3s/C01: Breast Cancer Screening/C01: Bogus Measure/' "$f"
expect unknown-measure 1 "Measure Stars (Dec 2 2024).csv:3: column 6: measure 'C01: Bogus Measure' is not in the 2025 year parameters" -- "$bin" stars rate --star-year 2025 --data-table "$tmp/t1"
cp "$src"/*"Measure Stars"* "$tmp/t1/"
sed -i '7s/^\(H0028 ,[^,]*,"[^"]*",[^,]*,[^,]*,\)4,/\17,/' "$f"
expect bad-star 1 "Measure Stars (Dec 2 2024).csv:7: column 6 (C01, contract H0028): star '7' is not 1..5" -- "$bin" stars rate --star-year 2025 --data-table "$tmp/t1"
cp "$src"/*"Measure Stars"* "$tmp/t1/"
f="$tmp/t1/2025 Star Ratings Data Table - Measure Data (Dec 2 2024).csv"
sed -i '/^H0028 /s/,76%,76%,/,7x6%,76%,/' "$f"
expect bad-score 1 "Measure Data (Dec 2 2024).csv:7: column 6 (C01, contract H0028): cannot read '7x6%' as a score" -- "$bin" stars compare --star-year 2025 --data-table "$tmp/t1"
mkdir "$tmp/t2" && cp "$src"/*"Measure Stars"* "$src"/*CAI* "$tmp/t2/"
expect missing-summary 1 "no '* - Summary Rating*.csv' file" -- "$bin" stars rate --star-year 2025 --data-table "$tmp/t2"
mkdir "$tmp/t3" && cp "$src"/*.csv "$tmp/t3/"
printf 'x,"unterminated\n' >>"$tmp/t3/2025 Star Ratings Data Table - CAI (Dec 2 2024).csv"
expect bad-quote 1 "CAI (Dec 2 2024).csv:765: field 2: quoted field never closed" -- "$bin" stars rate --star-year 2025 --data-table "$tmp/t3"
# published ratings read off the 2025 Summary file: H0028 3.5/3.5/3.5 (MA-PD), E3014 PDP 4.5
"$bin" stars rate --star-year 2025 --data-table "$src" >"$tmp/rate.csv" 2>"$tmp/rate.err" || fail=1
for want in "H0028,MA-PD,3.5,3.5,3.5" "E3014,PDP,,4.5," "H0022,MA-PD,,,"; do
    if grep -qx "$want" "$tmp/rate.csv"; then echo "ok   rate $want"; else echo "FAIL rate: no line $want"; fail=1; fi
done
# I-SNP-only status is not published: `rate` rates SNP contracts as CCP with SNP and says where
# that assumption changes the result; --isnp names the I-SNP-only contracts. H1119 (SNP, Local
# CCP) has 11 rated Part C measures in the 2025 Measure Stars file: short of the CCP-with-SNP
# minimum (15 of 29, TN Table 6) but not of the I-SNP-only one (9 of 17); CMS published 5/4/4.5.
"$bin" stars rate --star-year 2025 --data-table "$src" >"$tmp/rate.csv" 2>"$tmp/rate.err" || fail=1
if grep -qx "H1119,MA-PD,,4.0," "$tmp/rate.csv" &&
   grep -q "note: H1119: class assumed CCP with SNP" "$tmp/rate.err" &&
   grep -q "SNP contracts rated as CCP with SNP (assumed" "$tmp/rate.err"; then
    echo "ok   rate says it assumed the class of H1119"
else
    echo "FAIL rate: no class assumption note for H1119"; fail=1
fi
"$bin" stars rate --star-year 2025 --data-table "$src" --isnp H1119 >"$tmp/rate.csv" 2>"$tmp/rate.err" || fail=1
if grep -qx "H1119,MA-PD,5.0,4.0,4.5" "$tmp/rate.csv" && ! grep -q "note: H1119:" "$tmp/rate.err"; then
    echo "ok   rate --isnp H1119"
else
    echo "FAIL rate --isnp H1119"; fail=1
fi
expect isnp-unknown 1 "--isnp: contract H9999 is not in the data table" -- "$bin" stars rate --star-year 2025 --data-table "$src" --isnp H1119,H9999
expect isnp-not-snp 1 "--isnp: contract H0022 is not an SNP contract" -- "$bin" stars rate --star-year 2025 --data-table "$src" --isnp H0022
expect isnp-compare 2 "--isnp is an option of \`rate\`" -- "$bin" stars compare --star-year 2025 --data-table "$src" --isnp H1119
expect bad-folds 2 "--folds: '0' is not 1..100" -- "$bin" stars cutpoints --star-year 2025 --data-table "$src" --folds 0
# cutpoints: one row per clustered measure of the year file, two for Part D (MA-PD and PDP)
params="$(dirname "$0")/../../data/stars/2025.txt"
nc=$(grep -c '^C[0-9]* |.*| cluster |' "$params") nd=$(grep -c '^D[0-9]* |.*| cluster |' "$params")
"$bin" stars cutpoints --star-year 2025 --data-table "$src" --folds 1 --no-outlier-deletion \
    --no-guardrails >"$tmp/cut.csv" || fail=1
if head -1 "$tmp/cut.csv" | grep -qx "measure_id,code,plan_type,star2,star3,star4,star5" &&
   grep -q "^C01,BCS,MA," "$tmp/cut.csv" && grep -q "^D08,PDC-DR,PDP," "$tmp/cut.csv" &&
   [ "$(wc -l <"$tmp/cut.csv")" -eq $((1 + nc + 2 * nd)) ]; then
    echo "ok   cutpoints layout"
else
    echo "FAIL cutpoints layout"; fail=1
fi
exit $fail
