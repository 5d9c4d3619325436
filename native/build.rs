// The napi_* functions declared in src/napi.rs are not linked against anything: they are
// resolved from the `node` executable when it loads the addon. Linux links a cdylib with
// undefined symbols by default; macOS must be told (this is what napi-rs's `napi-build` does).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        println!("cargo:rustc-cdylib-link-arg=-undefined");
        println!("cargo:rustc-cdylib-link-arg=dynamic_lookup");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
