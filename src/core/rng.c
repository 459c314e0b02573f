/* rng.c: xoshiro256** seeded by splitmix64 (see rng.h for why), with the few derived
 * distributions the trainer and the generator need. Reference: D. Blackman, S. Vigna, "Scrambled
 * linear pseudorandom number generators", ACM TOMS 47(4), 2021; splitmix64 from G. Steele,
 * D. Lea, C. Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014. */
#include "core/rng.h"

#include <math.h>

uint64_t sg_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sg_rng_seed(struct sg_rng *r, uint64_t seed)
{
    uint64_t st = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = sg_splitmix64(&st);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1; /* cannot happen; cheap guard */
}

void sg_rng_seed2(struct sg_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t st = seed;
    uint64_t a = sg_splitmix64(&st);
    st = a ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
    uint64_t b = sg_splitmix64(&st);
    sg_rng_seed(r, a ^ b);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sg_rng_next(struct sg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sg_rng_uniform(struct sg_rng *r)
{
    return (double)(sg_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t sg_rng_below(struct sg_rng *r, uint64_t n)
{
    /* Lemire, "Fast random integer generation in an interval", ACM TOMACS 2019. */
    unsigned __int128 m = (unsigned __int128)sg_rng_next(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t thresh = (0 - n) % n;
        while (lo < thresh) {
            m = (unsigned __int128)sg_rng_next(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

int sg_rng_bernoulli(struct sg_rng *r, double p)
{
    return sg_rng_uniform(r) < p;
}

double sg_rng_normal(struct sg_rng *r)
{
    for (;;) {
        double u = 2.0 * sg_rng_uniform(r) - 1.0, v = 2.0 * sg_rng_uniform(r) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0) return u * sqrt(-2.0 * log(s) / s);
    }
}

unsigned sg_rng_poisson(struct sg_rng *r, double lambda)
{
    if (!(lambda > 0.0)) return 0;
    if (lambda < 30.0) {
        double u = sg_rng_uniform(r), p = exp(-lambda), c = p;
        unsigned k = 0;
        while (u > c && k < 1000) {
            k++;
            p *= lambda / k;
            c += p;
        }
        return k;
    }
    double x = floor(lambda + sqrt(lambda) * sg_rng_normal(r) + 0.5);
    return x < 0.0 ? 0u : (unsigned)x;
}

void sg_rng_shuffle(struct sg_rng *r, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)sg_rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
