/* Times tessera_verify on the reference licence: `verify N` prints nanoseconds per verify over N
 * verifies after N/10 to warm up. scripts/bench-bindings runs it beside the Rust, Python and Node
 * equivalents (the same key, product and time). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tessera.h"

static const char *KEY =
    "ts1_AQEA2Uevh4x_IgEBAoD2_CiA3YE4H5yFzNQoS4SeF-xdzqY0ITq77_DPtlYLeJj4W4X4GbqwEavEwYKikN_qS4gbN3E0"
    "iEfCZIJmfY_x_yslyX8BPA8";

static double seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    static const char *const keys[] = {"tspk1_1_11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"};
    static const char *const tiers[] = {"free", "pro", "team"};
    static const char *const features[] = {"export", "sync", "cloud", "ai", "plugins"};
    const TesseraProduct editor = {1, tiers, 3, features, 5};
    TesseraVerifier *verifier = NULL;
    if (tessera_verifier_new(keys, 1, &editor, &verifier, NULL) != TESSERA_STATUS_OK) return 1;
    TesseraLicense licence;
    long failures = 0;
    for (long i = 0; i < n / 10; i++) failures += tessera_verify(verifier, KEY, 1798761600, &licence, NULL) != 0;
    double start = seconds();
    for (long i = 0; i < n; i++) failures += tessera_verify(verifier, KEY, 1798761600, &licence, NULL) != 0;
    double elapsed = seconds() - start;
    tessera_verifier_free(verifier);
    if (failures) return 1;
    printf("%.1f\n", elapsed * 1e9 / (double)n);
    return 0;
}
