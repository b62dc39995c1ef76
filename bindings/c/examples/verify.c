/* A desktop app's licence check through libtessera: build a verifier once from the issuer's public key
 * and the product's tables (both compiled into the app), verify the saved licence key, then ask it
 * questions by name. Runs with no arguments on the keys it embeds and exits 0 when every check gives
 * the answer it should.
 *
 *   cargo build -p tessera-ffi
 *   cc -Wall -Wextra -Werror -I bindings/c/include bindings/c/examples/verify.c \
 *      target/debug/libtessera.a -lpthread -ldl -lm -o verify && ./verify
 */
#include <stdio.h>
#include <string.h>

#include "tessera.h"

/* The README's reference licence: acme-editor, tier "pro", features 0-4, expires 2027-09-21. */
static const char *SAVED_KEY =
    "ts1_AQEA2Uevh4x_IgEBAoD2_CiA3YE4H5yFzNQoS4SeF-xdzqY0ITq77_DPtlYLeJj4W4X4GbqwEavEwYKikN_qS4gbN3E0"
    "iEfCZIJmfY_x_yslyX8BPA8";
static const uint64_t JANUARY_2027 = 1798761600;

static int failures = 0;

static void expect(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
}

/* In an app: */
static int check_licence(const char *saved_key, uint64_t now) {
    static const char *const public_keys[] = {"tspk1_1_11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"};
    static const char *const tiers[] = {"free", "pro", "team"};
    static const char *const features[] = {"export", "sync", "cloud", "ai", "plugins"};
    const TesseraProduct editor = {1, tiers, 3, features, 5};

    TesseraVerifier *verifier = NULL;
    TesseraError error;
    if (tessera_verifier_new(public_keys, 1, &editor, &verifier, &error) != TESSERA_STATUS_OK) {
        fprintf(stderr, "cannot set up licensing: %s\n", error.message);
        return -1;
    }
    TesseraLicense licence;
    TesseraStatus status = tessera_verify(verifier, saved_key, now, &licence, &error);
    if (status == TESSERA_STATUS_OK) {
        printf("licensed (%s), pro: %d, export: %d\n", licence.license_id_hex,
               tessera_license_tier_at_least(verifier, &licence, "pro"),
               tessera_license_has_feature(verifier, &licence, "export"));
    } else {
        printf("not licensed: %s (%s)\n", error.message, tessera_status_message(status));
    }
    tessera_verifier_free(verifier);
    return (int)status;
}

int main(void) {
    expect(check_licence(SAVED_KEY, JANUARY_2027) == TESSERA_STATUS_OK, "the saved key is valid");
    expect(check_licence(SAVED_KEY, tessera_system_now() + 100ull * 365 * 86400) ==
               TESSERA_STATUS_EXPIRED,
           "in a hundred years it has expired");

    char forged[256];
    snprintf(forged, sizeof forged, "%s", SAVED_KEY);
    size_t in_signature = strlen(forged) - 10;
    forged[in_signature] = forged[in_signature] == 'A' ? 'B' : 'A';
    expect(check_licence(forged, JANUARY_2027) == TESSERA_STATUS_BAD_SIGNATURE,
           "a key with an altered signature is refused");
    expect(check_licence("not a licence", JANUARY_2027) == TESSERA_STATUS_MALFORMED,
           "a stray text is malformed");

    /* Every argument is checked: nulls are refused, never followed. */
    TesseraLicense licence;
    expect(tessera_verify(NULL, SAVED_KEY, 0, &licence, NULL) == TESSERA_STATUS_INVALID_ARGUMENT,
           "a null verifier is an invalid argument");
    expect(strcmp(tessera_status_message(TESSERA_STATUS_EXPIRED), "licence has expired") == 0,
           "status messages are static strings");
    return failures == 0 ? 0 : 1;
}
