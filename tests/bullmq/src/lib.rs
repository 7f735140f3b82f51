//! BullMQ's command scripts (`commands/*.lua`, with their `includes/`
//! snippets), embedded unmodified: `--- @include "includes/x"` lines, `.lua`
//! left out, headers in `--[[ ]]` blocks. `commands` is made by
//! `scripts/bullmq-check.sh`.

script_cache::include_scripts!("commands");
