// `@return nil-or-string` fixes the reply type of the typed call.
use script_cache::TypedInvocation;
script_cache::include_scripts!("fixtures/typed");

fn main() {
    let _: TypedInvocation<i64> = Scripts::name("user:1");
}
