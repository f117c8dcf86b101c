package usage

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strings"
)

// femtoPerUSD is the unit of Rate: prices are kept in femto-dollars
// (1e-15 USD) per token, which holds every published per-token price
// exactly (the smallest, 5e-9 USD, is 5,000,000 femto-dollars).
const femtoPerUSD = 1_000_000_000_000_000

// femtoPerNano converts a cost in femto-dollars to nano-dollars.
const femtoPerNano = 1_000_000

// Rate is a price per token in femto-dollars (1e-15 USD). The zero Rate is
// "not set", which makes Price fall back to a related rate; a free rate is
// set with a zero value, as PerToken(0) does.
type Rate struct {
	// Femto is the price of one token in femto-dollars.
	Femto int64
	// Set is true when the price table gives this rate.
	Set bool
}

// PerToken returns the Rate for a price in USD per token, such as 2.5e-6.
// It panics on a negative, NaN or infinite price, or one above 1 USD per
// token, which are programmer mistakes; loaders return errors instead.
func PerToken(usd float64) Rate {
	r, err := rateFromFloat(usd, 1)
	if err != nil {
		panic(err)
	}
	return r
}

// PerMillion returns the Rate for a price in USD per million tokens, such as
// 2.50. It panics where PerToken does.
func PerMillion(usd float64) Rate {
	r, err := rateFromFloat(usd, 1_000_000)
	if err != nil {
		panic(err)
	}
	return r
}

func (r Rate) or(fallback Rate) Rate {
	if r.Set {
		return r
	}
	return fallback
}

// Price is what one model charges. Rates that are not set fall back:
// CachedInput and CacheWrite to Input, Reasoning to Output.
type Price struct {
	// Provider is the provider that sells the model, such as "openai".
	Provider string
	// Mode is the kind of model: "chat", "completion", "embedding", …
	Mode string
	// Input is the rate for prompt tokens not read from or written to the
	// prompt cache.
	Input Rate
	// CachedInput is the rate for prompt tokens read from the prompt cache.
	CachedInput Rate
	// CacheWrite is the rate for prompt tokens written to the prompt cache.
	CacheWrite Rate
	// Output is the rate for completion tokens other than reasoning ones.
	Output Rate
	// Reasoning is the rate for reasoning tokens, for models that bill them
	// apart from other output.
	Reasoning Rate
	// Tiers hold other rates for calls with large prompts, in increasing
	// order of threshold.
	Tiers []Tier
}

// Tier holds the rates a model charges for every token of a call whose
// prompt has more than AboveInputTokens tokens. Rates a tier does not set
// are taken from the base price.
type Tier struct {
	AboveInputTokens int64
	Input            Rate
	CachedInput      Rate
	CacheWrite       Rate
	Output           Rate
	Reasoning        Rate
}

// Cost returns the cost of a call with the given tokens, in nano-dollars,
// rounded half up once from the exact sum in femto-dollars.
//
// Cached and cache-write tokens are priced at their own rates and taken out
// of Input first, so a cached token is charged once; reasoning tokens are
// part of Output and are charged once, at the Reasoning rate when one is set.
func (p *Price) Cost(t Tokens) int64 {
	input, cached, write, output, reasoning := p.rates(t.Input)

	uncached := t.Input - t.CachedInput - t.CacheWrite
	if uncached < 0 {
		uncached = 0
	}
	plain := t.Output - t.Reasoning
	if plain < 0 {
		plain = 0
	}

	var sum acc128
	sum.add(uncached, input.Femto)
	sum.add(t.CachedInput, cached.Femto)
	sum.add(t.CacheWrite, write.Femto)
	sum.add(plain, output.Femto)
	sum.add(t.Reasoning, reasoning.Femto)
	return sum.nanos()
}

// rates returns the five rates that apply to a call with the given number
// of prompt tokens, after tiers and fallbacks.
func (p *Price) rates(inputTokens int64) (input, cached, write, output, reasoning Rate) {
	input, cached, write, output, reasoning = p.Input, p.CachedInput, p.CacheWrite, p.Output, p.Reasoning
	for i := len(p.Tiers) - 1; i >= 0; i-- {
		tier := &p.Tiers[i]
		if inputTokens > tier.AboveInputTokens {
			input = tier.Input.or(input)
			cached = tier.CachedInput.or(cached)
			write = tier.CacheWrite.or(write)
			output = tier.Output.or(output)
			reasoning = tier.Reasoning.or(reasoning)
			break
		}
	}
	cached = cached.or(input)
	write = write.or(input)
	reasoning = reasoning.or(output)
	return input, cached, write, output, reasoning
}

// validate reports the first rate of p that is negative or above 1 USD per
// token, and a missing input rate.
func (p *Price) validate() error {
	if !p.Input.Set {
		return fmt.Errorf("input rate is missing")
	}
	rates := []Rate{p.Input, p.CachedInput, p.CacheWrite, p.Output, p.Reasoning}
	for _, t := range p.Tiers {
		rates = append(rates, t.Input, t.CachedInput, t.CacheWrite, t.Output, t.Reasoning)
	}
	for _, r := range rates {
		if r.Set && (r.Femto < 0 || r.Femto > femtoPerUSD) {
			return fmt.Errorf("rate of %d femto-dollars per token is out of range", r.Femto)
		}
	}
	return nil
}

// acc128 sums products of tokens and femto-dollar rates without overflow:
// a product may exceed int64 for very large token counts.
type acc128 struct{ hi, lo uint64 }

func (a *acc128) add(tokens, femto int64) {
	if tokens <= 0 || femto <= 0 {
		return
	}
	hi, lo := bits.Mul64(uint64(tokens), uint64(femto))
	var carry uint64
	a.lo, carry = bits.Add64(a.lo, lo, 0)
	a.hi, _ = bits.Add64(a.hi, hi, carry)
}

// nanos returns the sum in nano-dollars, rounded half up, saturating at the
// largest int64.
func (a *acc128) nanos() int64 {
	// Add half a nano-dollar, then divide by femtoPerNano.
	lo, carry := bits.Add64(a.lo, femtoPerNano/2, 0)
	hi := a.hi + carry
	if hi >= femtoPerNano {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, femtoPerNano)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// rateFromFloat converts a price in USD per perTokens tokens to a Rate. It
// goes through the shortest decimal form of the float so that 1.25e-6
// becomes exactly 1,250,000,000 femto-dollars.
func rateFromFloat(usd float64, perTokens int64) (Rate, error) {
	if math.IsNaN(usd) || math.IsInf(usd, 0) {
		return Rate{}, fmt.Errorf("price %v is not a number", usd)
	}
	return rateFromDecimal(fmt.Sprint(usd), perTokens)
}

// rateFromDecimal converts a decimal string price in USD per perTokens
// tokens to a Rate, rounding half up to the nearest femto-dollar.
func rateFromDecimal(s string, perTokens int64) (Rate, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok {
		return Rate{}, fmt.Errorf("price %q is not a decimal number", s)
	}
	if r.Sign() < 0 {
		return Rate{}, fmt.Errorf("price %s is negative", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(femtoPerUSD))
	r.Quo(r, new(big.Rat).SetInt64(perTokens))

	// Round half up: floor(r + 1/2).
	r.Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() || q.Int64() > femtoPerUSD {
		return Rate{}, fmt.Errorf("price %s USD per %d tokens is above 1 USD per token", s, perTokens)
	}
	return Rate{Femto: q.Int64(), Set: true}, nil
}
