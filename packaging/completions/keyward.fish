# fish completion for keyward(1): commands, subcommands, options, option
# values, and secret names from `keyward ls` when the agent lets this user
# list (nothing when it does not, is locked or is not running).
# Installed as share/fish/vendor_completions.d/keyward.fish.
#
# Keep the lists in step with `keyward help` (and keyward.bash, _keyward):
# tests/integration/test_completions.py checks every command, subcommand
# and option the help shows is offered here.

set -l __kw_commands init status unlock lock passwd put get edit ls \
    versions rm client policy audit schedule rotate watch apikey oauth token \
    jwks import export inject run mcp backup restore rekey help

function __keyward_subcommands
    switch $argv[1]
        case client
            echo add ls revoke
        case policy
            echo check show reload init owner
        case audit
            echo stats verify
        case schedule
            echo ls rm
        case apikey
            echo create ls revoke rotate verify
        case oauth
            echo add status login refresh revoke discover
        case token
            echo issue verify
        case mcp
            echo scan import proxy
    end
end

function __keyward_takes_value
    contains -- $argv[1] --socket --timeout --passphrase-fd --generate \
        --format --version --stage --uid --gid --exe --token-name --op \
        --name --since --until --principal --outcome --limit --every \
        --rotator --window --jitter --overlap --hmac-secret --max-wait \
        --status --count --scopes --ttl --sub --aud --client-id --prefix \
        -i -o --mode --exec --env --env-file --mask --mask-hold --grace \
        --token-file --server --grant --auth --token-url --authorize-url \
        --device-url --revocation-url --issuer --scope --resource \
        --header --protocol-version
end

# Prints the command, then its subcommand (each may be empty), then how
# many words follow run's -- before the cursor (-1: no --).
function __keyward_state
    set -l words (commandline -opc)
    set -l cmd ''
    set -l sub ''
    set -l skip 0
    set -l i 1
    # (no seq: this runs for every rule's condition, a fork each adds up)
    for w in $words[2..-1]
        set i (math $i + 1)
        if test $skip = 1
            set skip 0
            continue
        end
        if test -z "$cmd"
            if __keyward_takes_value $w
                set skip 1
            else if not string match -q -- '-*' $w
                set cmd $w
            end
            continue
        end
        if test "$w" = --
            printf '%s\n' $cmd $sub (math (count $words) - $i)
            return
        end
        if test -z "$sub"; and not string match -q -- '-*' $w
            and contains -- $w (string split ' ' -- (__keyward_subcommands $cmd))
            set sub $w
        end
        __keyward_takes_value $w; and set skip 1
    end
    printf '%s\n' $cmd $sub -1
end

# True when the words so far are exactly COMMAND [SUBCOMMAND] (no command:
# ''), before any run --.
function __keyward_at
    set -l s (__keyward_state)
    test "$s[3]" = -1; or return 1
    test "$s[1]" = "$argv[1]"; or return 1
    test "$s[2]" = "$argv[2]"
end

# COMMAND given and a subcommand still expected.
function __keyward_wants_sub
    set -l s (__keyward_state)
    test "$s[3]" = -1 -a -n "$s[1]" -a -z "$s[2]"; or return 1
    test -n "$(__keyward_subcommands $s[1])"
end

# True where a secret name is an operand.
function __keyward_wants_name
    set -l s (__keyward_state)
    test "$s[3]" = -1; or return 1
    contains -- "$s[1] $s[2]" "get " "put " "edit " "versions " "rm " \
        "rotate " "watch " "ls " "schedule " "schedule ls" "schedule rm"
end

# After run's --: N words typed after it (0: the command is next).
function __keyward_after_dashdash
    set -l s (__keyward_state)
    if test "$argv[1]" = 0
        test "$s[3]" = 0
    else
        test "$s[3]" -gt 0
    end
end

# Secret names from `keyward ls --json` (with the typed --socket); only
# the part of the current word up to its last / is sent as ls's PREFIX.
function __keyward_names
    set -l words (commandline -opc)
    set -l kw $words[1]
    set -l global
    set -l i (contains -i -- --socket $words)
    and set global --socket $words[(math $i + 1)]
    set -l cur (commandline -ct)
    set -l prefix
    string match -q -- '*/*' $cur
    and set prefix (string replace -r '[^/]*$' '' -- $cur)
    $kw $global --timeout 2000 ls --json $prefix 2>/dev/null </dev/null |
        string match -r -g '"name":"([^"]*)"'
end

complete -c keyward -f

# Global options and commands.
complete -c keyward -n '__keyward_at ""' -l socket -r -F -d 'agent socket'
complete -c keyward -n '__keyward_at ""' -l timeout -x -d 'per-request timeout (ms)'
complete -c keyward -n '__keyward_at ""' -l version -d 'print the version'
complete -c keyward -l help -d 'help for this command'
complete -c keyward -n '__keyward_at ""' -a "$__kw_commands"
complete -c keyward -n '__keyward_at help' -a "$__kw_commands"

# Subcommands.
for c in client policy audit schedule apikey oauth token mcp
    complete -c keyward -n "__keyward_wants_sub; and __keyward_at $c" \
        -a "(__keyward_subcommands $c | string split ' ')"
end

# Secret names, files, and run's command.
complete -c keyward -n __keyward_wants_name -a '(__keyward_names)'
for c in import backup restore 'mcp import' 'mcp scan'
    complete -c keyward -n "__keyward_at $c" -F
end
complete -c keyward -n '__keyward_after_dashdash 0' -a '(__fish_complete_command)'
complete -c keyward -n '__keyward_after_dashdash 1' -F

# Options, per command: "COMMAND [SUBCOMMAND]" then long options; a name
# ending in = takes a value.
function __keyward_opts
    set -l at $argv[1]
    for o in $argv[2..-1]
        if string match -q -- '*=' $o
            complete -c keyward -n "__keyward_at $at" -l (string trim -r -c = -- $o) -r
        else
            complete -c keyward -n "__keyward_at $at" -l $o
        end
    end
end
__keyward_opts init passphrase passphrase-fd=
for c in status ls versions 'client ls' 'policy show' 'audit verify' \
        'schedule ls' 'apikey verify' 'mcp scan' 'oauth status'
    __keyward_opts $c json
end
__keyward_opts unlock passphrase-fd=
__keyward_opts passwd passphrase-fd=
__keyward_opts put generate= format= allow-empty
__keyward_opts get version= stage= raw base64
__keyward_opts edit create allow-empty
__keyward_opts restore force passphrase-fd=
__keyward_opts rekey passphrase-fd=
__keyward_opts 'policy check' uid= gid= exe= token-name= op= name= json
__keyward_opts audit since= until= name= principal= op= outcome= limit= \
    json follow
__keyward_opts 'audit stats' since= json
__keyward_opts schedule every= rotator= window= jitter= overlap= generate= \
    hmac-secret= allow-private allow-insecure json
__keyward_opts rotate wait max-wait= status= json
__keyward_opts watch count= json
__keyward_opts 'apikey create' principal= scopes= ttl= json
__keyward_opts 'apikey ls' principal= json
__keyward_opts 'apikey rotate' overlap= json
__keyward_opts 'oauth add' grant= auth= token-url= authorize-url= \
    device-url= revocation-url= issuer= client-id= client-secret-stdin \
    scope= resource= allow-private allow-insecure
__keyward_opts 'oauth discover' allow-private allow-insecure
__keyward_opts 'oauth login' device no-browser
__keyward_opts 'token issue' sub= aud= scopes= client-id= ttl= json
__keyward_opts 'token verify' aud= scopes= json
__keyward_opts import format= prefix= dry-run overwrite shred
__keyward_opts export format= force
__keyward_opts inject mode= watch exec=
__keyward_opts run env= env-file= mask= mask-hold= watch grace= token-file=
__keyward_opts 'mcp import' server= prefix= dry-run yes narrow
__keyward_opts 'mcp proxy' header= allow-private allow-insecure \
    protocol-version= verbose oauth= client-id= resource= device no-browser \
    no-oauth
complete -c keyward -n '__keyward_at inject' -s i -r -F -d template
complete -c keyward -n '__keyward_at inject' -s o -r -F -d 'output file'
functions -e __keyward_opts

# Option values.
complete -c keyward -n '__keyward_at get' -l stage -x -a 'current pending previous retired'
complete -c keyward -n '__keyward_at put' -l format -x -a 'base64url hex alnum raw'
complete -c keyward -n '__keyward_at import; or __keyward_at export' -l format -x -a 'json dotenv'
complete -c keyward -n '__keyward_at "policy check"; or __keyward_at audit' -l op -x -a 'read write list rotate verify admin'
complete -c keyward -n '__keyward_at run' -l mask -x -a 'all stderr none'
complete -c keyward -n '__keyward_at audit; or __keyward_at "policy check"' -l name -x -a '(__keyward_names)'
complete -c keyward -n '__keyward_at rotate' -l status -x -a '(__keyward_names)'
complete -c keyward -n '__keyward_at "policy check"' -l exe -r -F
complete -c keyward -n '__keyward_at run' -l env-file -r -F
complete -c keyward -n '__keyward_at run' -l token-file -r -F
