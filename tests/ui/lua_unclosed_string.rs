// A tokenizer error (unclosed string) is reported with line and column.
script_cache::include_scripts!("fixtures/tokenizer_error");

fn main() {}
