// The same licence check from C++: the verifier handle owned by a std::unique_ptr, so it is freed on
// every path. Runs with no arguments on the keys it embeds and exits 0 when every check gives the
// answer it should (CI compiles it with the system c++ and runs it under valgrind).
#include <cstdio>
#include <memory>
#include <string>

#include "tessera.h"

namespace {

struct FreeVerifier {
    void operator()(TesseraVerifier *verifier) const { tessera_verifier_free(verifier); }
};
using Verifier = std::unique_ptr<TesseraVerifier, FreeVerifier>;

Verifier make_verifier() {
    static const char *const public_keys[] = {"tspk1_1_11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"};
    static const char *const tiers[] = {"free", "pro", "team"};
    static const char *const features[] = {"export", "sync", "cloud", "ai", "plugins"};
    const TesseraProduct editor = {1, tiers, 3, features, 5};
    TesseraVerifier *raw = nullptr;
    TesseraError error{};
    if (tessera_verifier_new(public_keys, 1, &editor, &raw, &error) != TESSERA_STATUS_OK) {
        std::fprintf(stderr, "cannot set up licensing: %s\n", error.message);
    }
    return Verifier(raw);
}

}  // namespace

int main() {
    const std::string saved_key =
        "ts1_AQEA2Uevh4x_IgEBAoD2_CiA3YE4H5yFzNQoS4SeF-xdzqY0ITq77_DPtlYLeJj4W4X4GbqwEavEwYKikN_qS4gbN3E0"
        "iEfCZIJmfY_x_yslyX8BPA8";
    Verifier verifier = make_verifier();
    if (!verifier) return 1;

    TesseraLicense licence{};
    TesseraError error{};
    int failures = 0;
    if (tessera_verify(verifier.get(), saved_key.c_str(), 1798761600, &licence, &error) ==
            TESSERA_STATUS_OK &&
        tessera_license_tier_at_least(verifier.get(), &licence, "pro") &&
        !tessera_license_has_feature(verifier.get(), &licence, "teleport")) {
        std::printf("ok   licensed to tier %u, id %s\n", licence.tier, licence.license_id_hex);
    } else {
        std::printf("FAIL the saved key: %s\n", error.message);
        failures++;
    }
    const TesseraStatus expired =
        tessera_verify(verifier.get(), saved_key.c_str(), 4102444800, &licence, &error);
    if (expired == TESSERA_STATUS_EXPIRED && error.expired_at == licence.expires_at) {
        std::printf("ok   in 2100: %s\n", error.message);
    } else {
        std::printf("FAIL in 2100: status %d\n", static_cast<int>(expired));
        failures++;
    }
    return failures == 0 ? 0 : 1;
}
