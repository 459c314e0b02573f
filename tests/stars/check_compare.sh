#!/bin/sh
# check_compare.sh STARGAP DATA_DIR YEAR: runs the real `stargap stars compare` on the copied CMS
# data table of YEAR and checks the agreement against figures obtained independently of stargap:
#   2025: every published rating (527 Part C, 592 Part D MA-PD, 41 Part D PDP, 521 overall,
#         the counts in the published Summary file) is reproduced;
#   2024: at least what the research behind METHODOLOGY.md reached on the July 2024
#         recalculation release (541/551 Part C, 585/619 MA-PD, 47/48 PDP, 532/545 overall).
# Measure stars from scores and published cut points must match for every non-CAHPS measure of
# every contract that is not disaster-affected, except the listed known_measure_exceptions.csv.
set -u
bin=$1 data=$2 year=$3
here=$(dirname "$0")
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
"$bin" stars compare --star-year "$year" --data-table "$data/cms/$year" >"$out" || {
    echo "stargap stars compare failed"; exit 1; }
fail=0
# need NAME MIN_MATCH EXACT_TOTAL
need() {
    line=$(grep "^agreement,$1," "$out")
    m=$(echo "$line" | cut -d, -f3) t=$(echo "$line" | cut -d, -f4)
    if [ -z "$line" ] || [ "$t" != "$3" ] || [ "$m" -lt "$2" ]; then
        echo "FAIL $year $1: got ${m:-?}/${t:-?}, need >= $2/$3"; fail=1
    else
        echo "ok   $year $1: $m/$t"
    fi
}
case $year in
2025) need part_c 527 527; need part_d_mapd 592 592; need part_d_pdp 41 41; need overall 521 521 ;;
2024) need part_c 541 551; need part_d_mapd 585 619; need part_d_pdp 47 48; need overall 532 545 ;;
*) echo "no expectations for $year"; exit 1 ;;
esac
grep '^measure_mismatch,' "$out" | cut -d, -f2-4 | while read -r m; do
    if ! grep -q "^$year,$m\$" "$here/known_measure_exceptions.csv"; then
        echo "FAIL $year measure star mismatch not among the known exceptions: $m"
        echo x >>"$out.bad"
    fi
done
[ -f "$out.bad" ] && { fail=1; rm -f "$out.bad"; }
n=$(grep -c "^$year," "$here/known_measure_exceptions.csv")
line=$(grep '^agreement,measure_stars_non_disaster,' "$out")
m=$(echo "$line" | cut -d, -f3) t=$(echo "$line" | cut -d, -f4)
if [ -z "$line" ] || [ $((t - m)) -gt "$n" ] || [ "$t" -lt 13000 ]; then
    echo "FAIL $year measure stars (non-disaster): ${m:-?}/${t:-?} with $n known exceptions"; fail=1
else
    echo "ok   $year measure stars (non-disaster): $m/$t ($n known exceptions)"
fi
exit $fail
