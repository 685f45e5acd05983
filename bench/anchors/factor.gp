\\ PARI/GP anchor for the u128 factor classes (and the reference output for ours).
\\ Reads the numbers in the file named by $BENCH_IN (one per line), prints each as coreutils
\\ `factor` does ("N: p1 p2 ...", primes ascending, repeated by multiplicity), and writes
\\ "count total_ms worst_ms" (compute + print per number, timed inside gp) to $BENCH_STATS.
\\ Usage: BENCH_IN=FILE BENCH_STATS=FILE gp -q -f bench/anchors/factor.gp
fmt(n) = {
  my(f = factorint(n), s = Str(n, ":"));
  for (i = 1, #f~, for (k = 1, f[i, 2], s = Str(s, " ", f[i, 1])));
  s
};
{
  my(v = readvec(getenv("BENCH_IN")), t, worst = 0, t0 = getabstime());
  for (i = 1, #v,
    t = getabstime();
    print(fmt(v[i]));
    t = getabstime() - t;
    if (t > worst, worst = t));
  write(getenv("BENCH_STATS"), Str(#v, " ", getabstime() - t0, " ", worst));
}
quit
