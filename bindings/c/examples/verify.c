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

/* A licence that must be activated (tests/vectors/certificates.json, case "reference"): the saved key, the
 * machine certificate the issuer signed for this machine, and the machine's id as the OS gives it. */
static const char *ACTIVATION_KEY =
    "ts1_AQE_mlwOfSG4RgEBFID2_CiA6Q8DC3kNDyWY-TcAL3mjUiWn3-kC2n10rsS-TPTtR1MTrmkLUwFTY4vY5HSuGqVAZqPJlj3"
    "Oet5_IBXurfIxaVi-Bg";
static const char *CERTIFICATE =
    "tsm1_AQE_mlwOfSG4Rs-1r0h5o2g7-JMV6G5bMskBgNSxKYDuzyr7VmEM7vVcJT-Q1v8PPUShiXV5uwWglu6n60kqJnjSWnWKP_"
    "kSweI5D_V_uAYVUneacKtBziFXL_0OR1u6a6UE";
static const char *MACHINE_ID = "b08f2f7c1e6a4d3c9a5e8f0d2c4b6a18";
static const uint64_t A_DAY_INTO_THE_LEASE = 1790950400;

/* In an app whose licences need activation; `last_seen` is kept by the app (e.g. in a file), and a
 * desktop app gets its fingerprint from tessera_machine_fingerprint(product, fingerprint, &error). */
static int check_activated(const char *certificate, uint64_t now, uint64_t last_seen) {
    static const char *const public_keys[] = {"tspk1_1_11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"};
    uint8_t fingerprint[TESSERA_FINGERPRINT_LEN];
    if (tessera_fingerprint_of_machine_id(1, (const uint8_t *)MACHINE_ID, strlen(MACHINE_ID),
                                          fingerprint) != TESSERA_STATUS_OK) {
        return -1;
    }
    TesseraVerifier *verifier = NULL;
    TesseraError error;
    if (tessera_verifier_new(public_keys, 1, NULL, &verifier, &error) != TESSERA_STATUS_OK) {
        fprintf(stderr, "cannot set up licensing: %s\n", error.message);
        return -1;
    }
    TesseraActivation activation;
    TesseraStatus status = tessera_verify_activated(verifier, ACTIVATION_KEY, certificate, fingerprint,
                                                    now, &last_seen, &activation, &error);
    if (status == TESSERA_STATUS_OK) {
        printf("activated (%s), lease: %llu days left\n", activation.license.license_id_hex,
               (unsigned long long)activation.lease_days_left);
    } else {
        printf("not activated: %s (%s)\n", error.message, tessera_status_message(status));
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

    expect(check_activated(CERTIFICATE, A_DAY_INTO_THE_LEASE, A_DAY_INTO_THE_LEASE - 3600) ==
               TESSERA_STATUS_OK,
           "the machine certificate activates the licence on this machine");
    expect(check_activated(CERTIFICATE, A_DAY_INTO_THE_LEASE + 60ull * 86400, A_DAY_INTO_THE_LEASE) ==
               TESSERA_STATUS_LEASE_EXPIRED,
           "two months on, its lease is over");
    expect(check_activated(CERTIFICATE, A_DAY_INTO_THE_LEASE, A_DAY_INTO_THE_LEASE + 86400) ==
               TESSERA_STATUS_CLOCK_ROLLED_BACK,
           "a clock turned back a day is refused");
    expect(check_activated(ACTIVATION_KEY, A_DAY_INTO_THE_LEASE, A_DAY_INTO_THE_LEASE) ==
               TESSERA_STATUS_CERTIFICATE_REFUSED,
           "a licence key is not a machine certificate");

    /* Every argument is checked: nulls are refused, never followed. */
    TesseraLicense licence;
    expect(tessera_verify(NULL, SAVED_KEY, 0, &licence, NULL) == TESSERA_STATUS_INVALID_ARGUMENT,
           "a null verifier is an invalid argument");
    expect(strcmp(tessera_status_message(TESSERA_STATUS_EXPIRED), "licence has expired") == 0,
           "status messages are static strings");
    return failures == 0 ? 0 : 1;
}
