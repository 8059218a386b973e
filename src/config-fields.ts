/*
 * zod field builders shared by the option schemas (config.ts for connect(), sticky/options.ts for
 * its `sticky` part), so a kind of field says what is wrong the same way everywhere.
 */
import { z } from 'zod'

/** An integer number of milliseconds, at least `min`. */
export const ms = (min = 1): z.ZodNumber => z.number({ error: `expected a number of milliseconds >= ${min}` }).int('expected an integer number of milliseconds').min(min, `expected a number of milliseconds >= ${min}`)
