# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dpwizard_global_optspecs
    string join \n root= json color= v/verbose timeout= plain save-answers= h/help V/version
end

function __fish_dpwizard_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dpwizard_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dpwizard_using_subcommand
    set -l cmd (__fish_dpwizard_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dpwizard -n "__fish_dpwizard_needs_command" -l root -d 'The machine\'s filesystem root: dpwizard reads and writes every path under it' -r -F
complete -c dpwizard -n "__fish_dpwizard_needs_command" -l color -d 'When to use colours (NO_COLOR in the environment means never, unless `always`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dpwizard -n "__fish_dpwizard_needs_command" -l timeout -d 'Timeout for each external command, in seconds (e.g. 3 or 0.5)' -r
complete -c dpwizard -n "__fish_dpwizard_needs_command" -l save-answers -d 'The wizard saves the answers to FILE at the end without asking' -r -F
complete -c dpwizard -n "__fish_dpwizard_needs_command" -l json -d 'Print machine-readable JSON instead of the human report'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -s v -l verbose -d 'Say more: show every probe and where each fact came from'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -l plain -d 'The wizard (no subcommand) asks line by line instead of full screen'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -s h -l help -d 'Print help'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -s V -l version -d 'Print version'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -f -a "plan" -d 'Show what `apply` would change (diffs, commands, why), changing nothing'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -f -a "apply" -d 'Make the changes: journalled atomic writes, nginx -t before any reload, rollback on failure, then the commands and a live check of the three WebSocket handshakes'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -f -a "rollback" -d 'Undo a run of `apply`: restore every file it changed (default: the last run)'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -f -a "answers" -d 'Answers files: print the commented template, or check a file'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -f -a "audit" -d 'Judge the setup: every check passes, warns or fails, with evidence and the fix. Read-only: it never changes the machine'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -f -a "detect" -d 'Show what is on this machine: drawpile-srv, how it runs, web servers, TLS, ports'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -f -a "history" -d 'List past runs of `apply` (newest first): when, what changed, whether the live checks passed, whether it was rolled back; with RUN-ID, print that run\'s log'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -f -a "completions" -d 'Print the tab-completion script for a shell (the .deb installs bash, zsh and fish)'
complete -c dpwizard -n "__fish_dpwizard_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand plan" -l answers -d 'The answers file (see `dpwizard answers --template`)' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand plan" -l root -d 'The machine\'s filesystem root: dpwizard reads and writes every path under it' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand plan" -l color -d 'When to use colours (NO_COLOR in the environment means never, unless `always`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dpwizard -n "__fish_dpwizard_using_subcommand plan" -l timeout -d 'Timeout for each external command, in seconds (e.g. 3 or 0.5)' -r
complete -c dpwizard -n "__fish_dpwizard_using_subcommand plan" -l check -d 'Exit 1 when changes are pending, 0 when the machine already matches'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand plan" -l json -d 'Print machine-readable JSON instead of the human report'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand plan" -s v -l verbose -d 'Say more: show every probe and where each fact came from'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand plan" -s h -l help -d 'Print help'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand apply" -l answers -d 'The answers file to apply (see `dpwizard answers --template`)' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand apply" -l root -d 'The machine\'s filesystem root: dpwizard reads and writes every path under it' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand apply" -l color -d 'When to use colours (NO_COLOR in the environment means never, unless `always`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dpwizard -n "__fish_dpwizard_using_subcommand apply" -l timeout -d 'Timeout for each external command, in seconds (e.g. 3 or 0.5)' -r
complete -c dpwizard -n "__fish_dpwizard_using_subcommand apply" -l yes -d 'Do not ask for confirmation (needed when stdin is not a terminal)'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand apply" -l dry-run -d 'Show the plan and stop'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand apply" -l force -d 'Replace files even when they changed between the plan and the writes (otherwise nothing is written and the changed files are named)'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand apply" -l skip-dns-check -d 'Run certbot without first checking that the domain resolves to this machine (for split-horizon DNS, or a machine behind NAT)'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand apply" -l json -d 'Print machine-readable JSON instead of the human report'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand apply" -s v -l verbose -d 'Say more: show every probe and where each fact came from'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand apply" -s h -l help -d 'Print help'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand rollback" -l root -d 'The machine\'s filesystem root: dpwizard reads and writes every path under it' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand rollback" -l color -d 'When to use colours (NO_COLOR in the environment means never, unless `always`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dpwizard -n "__fish_dpwizard_using_subcommand rollback" -l timeout -d 'Timeout for each external command, in seconds (e.g. 3 or 0.5)' -r
complete -c dpwizard -n "__fish_dpwizard_using_subcommand rollback" -l force -d 'Restore files even if they were changed after the run'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand rollback" -l files-only -d 'Only restore the files: do not restart, reload or start anything (the commands that would bring the running state back are printed instead)'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand rollback" -l json -d 'Print machine-readable JSON instead of the human report'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand rollback" -s v -l verbose -d 'Say more: show every probe and where each fact came from'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand rollback" -s h -l help -d 'Print help'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand answers" -l check -d 'Validate FILE and print every problem as FILE:LINE:COLUMN: [key] message' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand answers" -l domain -d 'With --from-machine: the domain, when the configuration does not tell' -r
complete -c dpwizard -n "__fish_dpwizard_using_subcommand answers" -l root -d 'The machine\'s filesystem root: dpwizard reads and writes every path under it' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand answers" -l color -d 'When to use colours (NO_COLOR in the environment means never, unless `always`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dpwizard -n "__fish_dpwizard_using_subcommand answers" -l timeout -d 'Timeout for each external command, in seconds (e.g. 3 or 0.5)' -r
complete -c dpwizard -n "__fish_dpwizard_using_subcommand answers" -l template -d 'Print a fully commented answers file'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand answers" -l from-machine -d 'Print an answers file that reproduces this machine\'s current setup'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand answers" -l json -d 'Print machine-readable JSON instead of the human report'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand answers" -s v -l verbose -d 'Say more: show every probe and where each fact came from'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand answers" -s h -l help -d 'Print help'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand audit" -l since -d 'How far back to read the logs: 7d, 12h, 30m' -r
complete -c dpwizard -n "__fish_dpwizard_using_subcommand audit" -l domain -d 'The domain to audit (default: the server_name of the server that serves /drawpile-web/ws)' -r
complete -c dpwizard -n "__fish_dpwizard_using_subcommand audit" -l format -d 'Output format (`--json` is the same as `--format json`)' -r -f -a "text\t''
json\t''
sarif\t''
prometheus\t'Metrics for node_exporter\'s textfile collector'"
complete -c dpwizard -n "__fish_dpwizard_using_subcommand audit" -l root -d 'The machine\'s filesystem root: dpwizard reads and writes every path under it' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand audit" -l color -d 'When to use colours (NO_COLOR in the environment means never, unless `always`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dpwizard -n "__fish_dpwizard_using_subcommand audit" -l timeout -d 'Timeout for each external command, in seconds (e.g. 3 or 0.5)' -r
complete -c dpwizard -n "__fish_dpwizard_using_subcommand audit" -l offline -d 'Skip the live probes (handshakes and DNS); the logs are still read'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand audit" -l strict -d 'Exit 1 on warnings too, not only on errors'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand audit" -l json -d 'Print machine-readable JSON instead of the human report'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand audit" -s v -l verbose -d 'Say more: show every probe and where each fact came from'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand detect" -l compose-file -d 'A docker-compose file to inspect besides the usual places (repeatable)' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand detect" -l root -d 'The machine\'s filesystem root: dpwizard reads and writes every path under it' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand detect" -l color -d 'When to use colours (NO_COLOR in the environment means never, unless `always`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dpwizard -n "__fish_dpwizard_using_subcommand detect" -l timeout -d 'Timeout for each external command, in seconds (e.g. 3 or 0.5)' -r
complete -c dpwizard -n "__fish_dpwizard_using_subcommand detect" -l json -d 'Print machine-readable JSON instead of the human report'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand detect" -s v -l verbose -d 'Say more: show every probe and where each fact came from'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand detect" -s h -l help -d 'Print help'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand history" -l root -d 'The machine\'s filesystem root: dpwizard reads and writes every path under it' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand history" -l color -d 'When to use colours (NO_COLOR in the environment means never, unless `always`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dpwizard -n "__fish_dpwizard_using_subcommand history" -l timeout -d 'Timeout for each external command, in seconds (e.g. 3 or 0.5)' -r
complete -c dpwizard -n "__fish_dpwizard_using_subcommand history" -l json -d 'Print machine-readable JSON instead of the human report'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand history" -s v -l verbose -d 'Say more: show every probe and where each fact came from'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand history" -s h -l help -d 'Print help'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand completions" -l root -d 'The machine\'s filesystem root: dpwizard reads and writes every path under it' -r -F
complete -c dpwizard -n "__fish_dpwizard_using_subcommand completions" -l color -d 'When to use colours (NO_COLOR in the environment means never, unless `always`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dpwizard -n "__fish_dpwizard_using_subcommand completions" -l timeout -d 'Timeout for each external command, in seconds (e.g. 3 or 0.5)' -r
complete -c dpwizard -n "__fish_dpwizard_using_subcommand completions" -l json -d 'Print machine-readable JSON instead of the human report'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand completions" -s v -l verbose -d 'Say more: show every probe and where each fact came from'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand completions" -s h -l help -d 'Print help'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand help; and not __fish_seen_subcommand_from plan apply rollback answers audit detect history completions help" -f -a "plan" -d 'Show what `apply` would change (diffs, commands, why), changing nothing'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand help; and not __fish_seen_subcommand_from plan apply rollback answers audit detect history completions help" -f -a "apply" -d 'Make the changes: journalled atomic writes, nginx -t before any reload, rollback on failure, then the commands and a live check of the three WebSocket handshakes'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand help; and not __fish_seen_subcommand_from plan apply rollback answers audit detect history completions help" -f -a "rollback" -d 'Undo a run of `apply`: restore every file it changed (default: the last run)'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand help; and not __fish_seen_subcommand_from plan apply rollback answers audit detect history completions help" -f -a "answers" -d 'Answers files: print the commented template, or check a file'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand help; and not __fish_seen_subcommand_from plan apply rollback answers audit detect history completions help" -f -a "audit" -d 'Judge the setup: every check passes, warns or fails, with evidence and the fix. Read-only: it never changes the machine'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand help; and not __fish_seen_subcommand_from plan apply rollback answers audit detect history completions help" -f -a "detect" -d 'Show what is on this machine: drawpile-srv, how it runs, web servers, TLS, ports'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand help; and not __fish_seen_subcommand_from plan apply rollback answers audit detect history completions help" -f -a "history" -d 'List past runs of `apply` (newest first): when, what changed, whether the live checks passed, whether it was rolled back; with RUN-ID, print that run\'s log'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand help; and not __fish_seen_subcommand_from plan apply rollback answers audit detect history completions help" -f -a "completions" -d 'Print the tab-completion script for a shell (the .deb installs bash, zsh and fish)'
complete -c dpwizard -n "__fish_dpwizard_using_subcommand help; and not __fish_seen_subcommand_from plan apply rollback answers audit detect history completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
