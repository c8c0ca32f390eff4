# bash completion for keyward(1): commands, subcommands, options, option
# values, and secret names from `keyward ls` when the agent lets this user
# list (nothing when it does not, is locked or is not running).
#
# Installed as share/bash-completion/completions/keyward (bash-completion
# loads it on first use); without bash-completion, source this file from
# ~/.bashrc. It needs nothing from bash-completion itself.
#
# Keep the lists in step with `keyward help` (and _keyward, keyward.fish):
# tests/integration/test_completions.py checks that every command,
# subcommand and option the help shows is offered here.

_keyward_commands="init status unlock lock passwd put get edit ls versions
	rm client policy audit schedule rotate watch apikey oauth token jwks
	import export inject run mcp backup restore rekey help"

# Subcommands: a command listed here takes one of these as its first word
# (schedule and audit also run without one).
_keyward_subcommands() {
	case $1 in
	client) echo "add ls revoke" ;;
	policy) echo "check show reload init owner" ;;
	audit) echo "stats verify" ;;
	schedule) echo "ls rm" ;;
	apikey) echo "create ls revoke rotate verify" ;;
	oauth) echo "add status login refresh revoke discover" ;;
	token) echo "issue verify" ;;
	mcp) echo "scan import proxy" ;;
	esac
}

# The options of "COMMAND" or "COMMAND SUBCOMMAND".
_keyward_options() {
	local o
	case $1 in
	init) o="--passphrase --passphrase-fd" ;;
	status | ls | versions | "client ls" | "policy show" | "audit verify" | \
		"schedule ls" | "apikey verify" | "mcp scan" | "oauth status")
		o="--json" ;;
	unlock | passwd) o="--passphrase-fd" ;;
	put) o="--generate --format --allow-empty" ;;
	get) o="--version --stage --raw --base64" ;;
	edit) o="--create --allow-empty" ;;
	restore) o="--force --passphrase-fd" ;;
	rekey) o="--passphrase-fd" ;;
	"policy check") o="--uid --gid --exe --token-name --op --name --json" ;;
	audit) o="--since --until --name --principal --op --outcome --limit
		--json --follow" ;;
	"audit stats") o="--since --json" ;;
	schedule) o="--every --rotator --window --jitter --overlap --generate
		--hmac-secret --allow-private --allow-insecure --json" ;;
	rotate) o="--wait --max-wait --status --json" ;;
	watch) o="--count --json" ;;
	"apikey create") o="--principal --scopes --ttl --json" ;;
	"apikey ls") o="--principal --json" ;;
	"apikey rotate") o="--overlap --json" ;;
	"oauth add") o="--grant --auth --token-url --authorize-url --device-url
		--revocation-url --issuer --client-id --client-secret-stdin
		--scope --resource --allow-private --allow-insecure" ;;
	"oauth discover") o="--allow-private --allow-insecure" ;;
	"oauth login") o="--device --no-browser" ;;
	"token issue") o="--sub --aud --scopes --client-id --ttl --json" ;;
	"token verify") o="--aud --scopes --json" ;;
	import) o="--format --prefix --dry-run --overwrite --shred" ;;
	export) o="--format --force" ;;
	inject) o="-i -o --mode --watch --exec" ;;
	run) o="--env --env-file --mask --mask-hold --watch --grace
		--token-file" ;;
	"mcp import") o="--server --prefix --dry-run --yes --narrow" ;;
	"mcp proxy") o="--header --allow-private --allow-insecure
		--protocol-version --verbose --oauth --client-id --resource
		--device --no-browser --no-oauth" ;;
	esac
	echo "$o --help"
}

# Options that take the next word as their value.
_keyward_takes_value() {
	case $1 in
	--socket | --timeout | --passphrase-fd | --generate | --format | \
		--version | --stage | --uid | --gid | --exe | --token-name | \
		--op | --name | --since | --until | --principal | --outcome | \
		--limit | --every | --rotator | --window | --jitter | --overlap | \
		--hmac-secret | --max-wait | --status | --count | --scopes | \
		--ttl | --sub | --aud | --client-id | --prefix | -i | -o | \
		--mode | --exec | --env | --env-file | --mask | --mask-hold | \
		--grace | --token-file | --server | --grant | --auth | \
		--token-url | --authorize-url | --device-url | \
		--revocation-url | --issuer | --scope | --resource | \
		--header | --protocol-version) return 0 ;;
	esac
	return 1
}

# Secret names starting with $cur, from `keyward ls --json`. Only the
# part of $cur up to its last / is sent, as ls's PREFIX.
_keyward_names() {
	local prefix="" line re='"name":"([^"]*)"'
	local -a names=()
	[[ $cur == */* ]] && prefix=${cur%/*}/
	[[ $kw == "~/"* ]] && kw=$HOME/${kw#"~/"}
	while IFS= read -r line; do
		[[ $line =~ $re ]] && names+=("${BASH_REMATCH[1]}")
	done < <("$kw" "${global[@]}" --timeout 2000 ls --json $prefix \
		2>/dev/null </dev/null)
	COMPREPLY+=($(compgen -W "${names[*]}" -- "$cur"))
}

# File names (directories get their slash, names are quoted as needed).
_keyward_files() {
	compopt -o filenames 2>/dev/null
	COMPREPLY=($(compgen -f -- "$cur"))
}

_keyward() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=""
	local kw=${COMP_WORDS[0]} cmd="" sub="" dashdash=0 i w
	local -a global=()
	COMPREPLY=()
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

	# What is typed before the current word: global options, the
	# command, its subcommand, and whether run's -- was passed.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ -z $cmd ]]; then
			case $w in
			--socket) global=(--socket "${COMP_WORDS[i + 1]}") ;;
			esac
			if _keyward_takes_value "$w"; then
				((i++))
			elif [[ $w != -* ]]; then
				cmd=$w
			fi
			continue
		fi
		[[ $w == -- ]] && dashdash=$i && break
		if [[ -z $sub && $w != -* ]] &&
			[[ " $(_keyward_subcommands "$cmd") " == *" $w "* ]]; then
			sub=$w
		fi
		_keyward_takes_value "$w" && ((i++))
	done

	# After run's --: the command, then whatever it takes (bash-
	# completion's _command_offset knows that; without it, file names).
	if ((dashdash)); then
		if ((COMP_CWORD == dashdash + 1)); then
			COMPREPLY=($(compgen -c -- "$cur"))
		elif declare -F _command_offset >/dev/null; then
			_command_offset $((dashdash + 1))
		else
			_keyward_files
		fi
		return
	fi

	# The value of the option just typed.
	if _keyward_takes_value "$prev"; then
		case $prev in
		--stage) COMPREPLY=($(compgen -W "current pending previous
			retired" -- "$cur")) ;;
		--format)
			case $cmd in
			put) COMPREPLY=($(compgen -W "base64url hex alnum raw" \
				-- "$cur")) ;;
			*) COMPREPLY=($(compgen -W "json dotenv" -- "$cur")) ;;
			esac ;;
		--op) COMPREPLY=($(compgen -W "read write list rotate verify
			admin" -- "$cur")) ;;
		--mask) COMPREPLY=($(compgen -W "all stderr none" -- "$cur")) ;;
		--name | --status | --hmac-secret) _keyward_names ;;
		--socket | --exe | --env-file | --token-file | -i | -o)
			_keyward_files ;;
		esac
		return
	fi

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--socket --timeout --version
				--help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$_keyward_commands" -- "$cur"))
		fi
		return
	fi

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_keyward_options "$cmd${sub:+ $sub}")" \
			-- "$cur"))
		return
	fi

	local subs
	subs=$(_keyward_subcommands "$cmd")
	if [[ -n $subs && -z $sub ]]; then
		COMPREPLY=($(compgen -W "$subs" -- "$cur"))
		case $cmd in
		schedule) _keyward_names ;; # schedule NAME, as well as ls/rm
		esac
		return
	fi

	case $cmd${sub:+ $sub} in
	get | put | edit | versions | rm | rotate | watch | ls | \
		"schedule ls" | "schedule rm") _keyward_names ;;
	import | backup | restore | "mcp import" | "mcp scan")
		_keyward_files ;;
	help) COMPREPLY=($(compgen -W "$_keyward_commands" -- "$cur")) ;;
	esac
}

complete -F _keyward keyward
